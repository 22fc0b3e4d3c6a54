"""Helpers of scripts/bench/studio.sh (standard library only): fill a gallery, time built-in-model images
through the API, load a model into a running server, and read a process's memory.

  studio_bench.py fill URL N                      N quick sd1 images; prints the last job id
  studio_bench.py overhead URL BIN STEPS REPEATS  one built-in image via the API vs `diffuse generate`, alternated
  studio_bench.py load URL MODEL SIZE             runs one 1-step job on MODEL at SIZE px (loads it)
  studio_bench.py rss PID                         VmRSS and VmHWM in MiB
"""
import json
import statistics
import subprocess
import sys
import time
import urllib.request


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def run_job(base, body):
    """Queues a job and reads its event stream to the final message; returns (seconds, final event)."""
    start = time.perf_counter()
    job = post(f"{base}/api/jobs", body)
    final = None
    with urllib.request.urlopen(f"{base}/api/jobs/{job['id']}/events", timeout=600) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "done":
                    final = event
    elapsed = time.perf_counter() - start
    if not final or final["status"] != "succeeded":
        sys.exit(f"job failed: {final}")
    return elapsed, final


def main():
    cmd, base = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    if cmd == "fill":
        last = None
        for i in range(int(sys.argv[3])):
            _, last = run_job(base, {"model": "sd1", "prompt": f"gallery row {i}", "steps": 1, "seed": i, "sampler": "euler"})
        print(last["id"])
    elif cmd == "overhead":
        # API: wall time at the client (POST → final event), and the generation alone as the server timed it
        # (the gallery's `duration`: sampling + PNG encoding; no queue, HTTP or database). CLI: the whole
        # `diffuse generate` process (start, model load and hash, sampling, PNG). Runs alternate, so a change
        # in the shared machine's load hits both sides alike.
        binary, steps, repeats = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        body = {"model": "builtin", "prompt": "a red circle", "steps": steps, "seed": 1, "preview_every": 0}
        cold, _ = run_job(base, body)   # first job: loads (and hashes) the model
        walls, inside, cli = [], [], []
        for _ in range(repeats):
            wall, final = run_job(base, body)
            with urllib.request.urlopen(f"{base}/api/gallery/{final['images'][0]['id']}", timeout=60) as r:
                inside.append(json.load(r)["duration"])
            walls.append(wall)
            start = time.perf_counter()
            subprocess.run([binary, "generate", "a red circle", "--steps", str(steps), "--seed", "1",
                            "--output", "/tmp/diffuse-studio-bench.png", "--force"], check=True, capture_output=True)
            cli.append(time.perf_counter() - start)
        med = statistics.median
        print(f"API, first job (model load included): {cold:.3f} s")
        print(f"API, client wall: median {med(walls):.3f} (min {min(walls):.3f}, max {max(walls):.3f}) s")
        print(f"API, generation inside the server: median {med(inside):.3f} s")
        print(f"server overhead (client wall - generation, median): {med(w - i for w, i in zip(walls, inside)) * 1000:.1f} ms")
        print(f"diffuse generate, whole process: median {med(cli):.3f} (min {min(cli):.3f}, max {max(cli):.3f}) s")
    elif cmd == "load":
        run_job(base, {"model": sys.argv[3], "prompt": "load", "steps": 1, "seed": 1,
                       "width": int(sys.argv[4]), "height": int(sys.argv[4]), "preview_every": 0})
    elif cmd == "rss":
        fields = dict(line.split(":", 1) for line in open(f"/proc/{base}/status"))
        mib = lambda k: int(fields[k].split()[0]) / 1024
        print(f"{mib('VmRSS'):.0f} {mib('VmHWM'):.0f}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
