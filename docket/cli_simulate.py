"""`docket simulate`: what a threshold change would do, before making it (registered on the app)."""
