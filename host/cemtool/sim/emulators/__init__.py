"""Sensor emulators: each speaks one device's exact bytes, reading the world at the current second.

UART devices own a pty (``gss.GssAnalyser``, ``modbus.ModbusAnalyser`` served by pymodbus);
bus devices are register-level models behind the sim bus (``sdp3x.SDP3x``, ``bmp280.BMP280``,
``max31865.MAX31865``, ``current_loop.CurrentLoop``). Each takes the ``World`` (simulated time,
model and faults) and the same config dict as its firmware driver, so one board-profile entry
configures both sides. ``power_cycle()`` returns a device to its power-on state.
"""
