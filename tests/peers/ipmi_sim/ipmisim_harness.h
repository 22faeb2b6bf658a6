/* ipmi_sim (OpenIPMI 2.0.33) as a test BMC, started and stopped by tests and benches.
 *
 * ipmisim_create writes, into a private temporary directory, the simulator's lan.conf, its emu
 * command file and the chassis_control script (power state kept in a file per BMC; ipmi_sim itself
 * turns "power cycle" into off, then on about 1 s later), picks a free UDP port on 127.0.0.1,
 * opens the SOL serial listener (a TCP socket playing the host's serial port, listening BEFORE
 * ipmi_sim starts because the simulator connects out to it only at start-up and then every ~10 s)
 * and starts ipmi_sim. It returns once the simulator answers a Get Device ID over RMCP+ and, when
 * SOL is configured, has connected to the serial listener. Several simulators may run at once.
 *
 * Every started ipmi_sim is killed by ipmisim_stop/ipmisim_destroy, by an atexit handler (a test
 * that fails half-way still leaves nothing behind), and by the kernel if the test process dies
 * (PR_SET_PDEATHSIG; start simulators from a thread that outlives them, normally main).
 *
 * The serial listener thread records every byte the simulator sends towards the "host" (bytes a
 * SOL client typed) and can echo them back like a shell at a prompt; ipmisim_serial_write sends
 * bytes as if the host printed them.
 *
 * Credentials are fixed: user "admin" with IPMISIM_PASSWORD (distinctive, so tests can grep for
 * leaks). Thread safety: the serial functions may be called from any thread; create/start/stop/
 * destroy from one thread. */
#ifndef IPMISIM_HARNESS_H
#define IPMISIM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/bmc.h"

#define IPMISIM_USER "admin"
#define IPMISIM_PASSWORD "Zq7-pw-leakcheck"

typedef struct ipmisim ipmisim;

typedef struct ipmisim_config {
    bool sol;         /* configure SOL and the serial listener */
    bool sensors;     /* add three analog sensors with SDRs: "CPU Temp" 45 C, "Fan 1" 3000 RPM,
                         "PSU Power" 180 W */
    bool serial_echo; /* the listener echoes what it receives */
} ipmisim_config;

/* Creates the files and starts the simulator (see above). cfg may be NULL (no SOL, sensors on).
 * Returns NULL with a message on stderr when ipmi_sim cannot be started. */
ipmisim *ipmisim_create(const ipmisim_config *cfg);
/* Stops the simulator (if running), stops the listener and removes the directory. NULL is fine. */
void ipmisim_destroy(ipmisim *s);
/* Stops the simulator process (SIGTERM, SIGKILL after 1 s). The listener keeps listening. */
void ipmisim_stop(ipmisim *s);
/* (Re)starts the simulator on the same port and waits until it answers (and reconnected to the
 * serial listener when SOL is on). Returns 0 or -1. */
int ipmisim_start(ipmisim *s);
/* Kills the simulator with SIGKILL (a crash: no state saved). */
void ipmisim_kill(ipmisim *s);

int ipmisim_port(const ipmisim *s);
pid_t ipmisim_pid(const ipmisim *s);
/* "ipmi://127.0.0.1:<port>" (owned by s). */
const char *ipmisim_endpoint(const ipmisim *s);
/* The power state the chassis script holds: 1 on, 0 off, -1 unreadable. */
int ipmisim_power_file(const ipmisim *s);
/* How many times ipmi_sim ran the chassis script with "get power". */
int ipmisim_power_gets(const ipmisim *s);

/* Fills opts (zeroed first) with what ipmi_sim needs: the opensesspriv workaround, the three
 * libipmiconsole workarounds (opensesspriv, skip channel payload support — without it FreeIPMI
 * sends a request that crashes ipmi_sim —, ignore SOL payload size) and a 400 ms SOL keepalive. */
void ipmisim_bmc_options(agt_bmc_options *opts);

/* Runs `ipmitool -I lanplus -H 127.0.0.1 -p <port> -U admin -P <pw> -C 3 <args...>` (args is a
 * NULL-terminated list), captures stdout+stderr into out (NUL-terminated, truncated to cap) and
 * returns the exit status, or -1 when it could not run or exceeded timeout_ms (then killed). */
int ipmisim_ipmitool(const ipmisim *s, const char *const *args, char *out, size_t cap,
                     int timeout_ms);

/* ---- SOL serial listener ---- */

/* Waits until the simulator is connected to the listener (n-th connection since create, n >= 1).
 * Returns true when it is. */
bool ipmisim_serial_wait_connected(ipmisim *s, int n, int timeout_ms);
/* Sends bytes as the host's serial output. Returns bytes written or -1 when not connected. */
ssize_t ipmisim_serial_write(ipmisim *s, const void *buf, size_t len);
/* Copies up to cap bytes received so far (from the start or the last clear) into buf; returns the
 * total received (which may exceed cap). */
size_t ipmisim_serial_received(ipmisim *s, void *buf, size_t cap);
/* Waits until the received bytes contain needle. Returns true when found. */
bool ipmisim_serial_wait_for(ipmisim *s, const void *needle, size_t n, int timeout_ms);
/* Forgets the received bytes. */
void ipmisim_serial_clear(ipmisim *s);
void ipmisim_serial_set_echo(ipmisim *s, bool echo);

#endif
