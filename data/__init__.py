"""Database initialisation and demo data, run by `flask --app app <command>`."""
