"""The business calendar: working days, opening hours, holidays."""
