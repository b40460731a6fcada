# Started by MicroPython after boot.py: run the monitoring terminal.
import cemt.app

cemt.app.main()
