"""cemt: firmware of the carbon-emission monitoring terminal."""
VERSION = "0.1.0"
