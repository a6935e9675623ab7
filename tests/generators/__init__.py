"""Tests of the data generators and of running them locally."""
