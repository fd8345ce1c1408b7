"""Library modules behind the facenet scripts: no argument parsing, no printing to users."""
