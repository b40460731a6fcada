"""The 4G modem driver (SIMCom SIM7600/A7670 and Quectel EC200/EG25 families).

    from cemt.modem.driver import Modem
    modem = Modem(uart, "simcom", apn=b"cmnet", pwrkey=pin, store=store,
                  board_reset=machine.reset, clock=clock)
    if await modem.connect(b"198.51.100.7", 5000):
        await modem.send(frame)
        n = await modem.recv(buf, 5000)
        await modem.close()

Every call is a coroutine that polls the UART with short sleeps, so the 1 Hz sampling task keeps
running through a 60 s modem timeout. Modules: ``at`` (the AT engine), ``parse`` (CSQ, CEREG,
CCLK), ``simcom`` and ``quectel`` (the socket commands of each family), ``ladder`` (escalation
counters), ``driver`` (the ``Modem``). docs/modem.md has the command subset and timings.
"""
