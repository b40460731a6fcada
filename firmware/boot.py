# Runs first on every boot; kept tiny so a bad firmware update can always be repaired over USB.
