"""Instance file storage back ends."""
