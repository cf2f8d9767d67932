"""Scheduling service: calendars, rooms, appointments and protocol gating."""
