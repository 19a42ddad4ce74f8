"""`docket alternatives`: search for less discriminatory alternatives (registered on the app)."""
