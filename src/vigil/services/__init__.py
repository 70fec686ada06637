"""Domain services: business rules + audit, on top of repositories. Used by CLI and API alike."""
