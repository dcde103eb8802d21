"""Local fakes of external services, speaking their documented protocols."""
