# A peer that connects to the agent's socket and hands the connection to a child before it exits,
# as a forking VMM (or an attacker leaving its pid free for reuse) does.
# argv: socket uid groups(comma-separated) ask-first(yes|no) exchange-dir
# Prints the connecting process's pid; the child then waits for the file exchange-dir/go, sends
# hello and writes the answer (or the error) to exchange-dir/answer.
import os
import socket
import sys
import time

path, uid, groups, ask_first, exchange = sys.argv[1], int(sys.argv[2]), [int(g) for g in sys.argv[3].split(",") if g], sys.argv[4], sys.argv[5]
os.setgroups(groups)  # before dropping root, as root alone may
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
connection.connect(path)
hello = b'{"version":1,"id":"h","op":"hello"}'
if ask_first == "yes":
    connection.send(hello)
    connection.recv(1 << 20)
print(os.getpid(), flush=True)
if os.fork() != 0:
    os._exit(0)
deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(exchange, "go")) and time.monotonic() < deadline:
    time.sleep(0.01)
try:
    connection.send(hello)
    answer = connection.recv(1 << 20).decode()
except OSError as e:
    answer = "error: " + str(e)
with open(os.path.join(exchange, "answer.tmp"), "w") as out:
    out.write(answer)
os.rename(os.path.join(exchange, "answer.tmp"), os.path.join(exchange, "answer"))
