"""Load test of ``lightfm serve``: requests per second and latency over real HTTP.

Starts ``lightfm serve`` on a model in a subprocess (a free port on 127.0.0.1) and drives it with
an HTTP load generator of 16 concurrent clients on asyncio in one process, each on its own kept-alive
connection, sending its next request as soon as the last one is answered (``--client``: ``raw``, a
minimal HTTP/1.1 client, the default, or ``httpx``, its ``AsyncClient``). Per endpoint: a 2 s warm-up
(not counted), then ``--duration`` seconds whose requests per second, median and 99th-percentile
latency and errors are reported, with the CPU time the server and the load generator used per
request (from /proc; the server's includes its worker processes).

* ``GET /recommend?user=U&n=10``: a random known user (seen items left out);
* ``POST /recommend`` ``{"items": [20 items], "n": 10}``: a new user folded in from 20 items drawn
  by popularity;
* ``GET /similar?item=I&n=10``: a random item.

Models (``--models``, default ``movielens generated``): ``movielens`` is WARP on MovieLens 100k
(ratings >= 4; read from --data-home, never downloaded), ``generated`` a model of 20,000 users and
10,000 items (500,000 interactions with power-law popularity), ``large`` 1,000,000 items served
through a faiss ``--index`` (needs ``lightfm-ng[ann]``; building the index takes minutes), with the
recall@10 of its answers against the exact ones, and with ``--large-without-index SECONDS`` the same
model served without the index too.

The load generator runs on the same machine as the server: on a 2-core machine the two share the
cores, which the output says. That is why the default client is the minimal one: httpx's AsyncClient
spends 1 to 1.3 ms of CPU a request, five times what the server spends on GET /recommend, so with it
one core goes to the load generator, which tops out near 1,000 requests a second whatever the server
does, and its own pauses (a busy event loop serving 16 clients) set the 99th percentile. The minimal
client spends about 0.05 ms. Before each endpoint, it waits while more than ``--max-busy`` cores are
busy with other work (other benchmarks running), and says how busy they were.

    python benchmarks/bench_serve.py                          # 60 s per endpoint and model
    python benchmarks/bench_serve.py --duration 10 --models generated
    python benchmarks/bench_serve.py --workers 2              # lightfm serve --workers 2
    python benchmarks/bench_serve.py --models large --duration 20
    python benchmarks/bench_serve.py --models large --large-without-index 20   # and served without --index
    python benchmarks/bench_serve.py --client httpx           # httpx's AsyncClient as the load generator
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 16
WARM_UP_S = 2.0
# Goals on the project's 2-core machine, for the 10,000-item model.
GOALS = {"GET /recommend": (1000, 50), "POST /recommend": (300, 100)}


# -- models -------------------------------------------------------------------------------------


def _save(folder: Path, name: str, model, users, items, interactions, titles=None):
    from lightfm.data import Dataset

    dataset = Dataset()
    dataset.fit(users, items)
    path = folder / f"{name}.npz"
    model.save(path, dataset=dataset, interactions=interactions)
    if titles is not None:
        quoted = [title.replace('"', "'") for title in titles]
        lines = ["item,title"] + [f'{item},"{title}"' for item, title in zip(items, quoted, strict=True)]
        (folder / f"{name}_names.csv").write_text("\n".join(lines) + "\n")
    return path


def movielens_model(folder: Path, data_home: str):
    from lightfm import LightFM
    from lightfm.datasets import fetch_movielens

    data = fetch_movielens(data_home=data_home, min_rating=4.0, download_if_missing=False)
    train = data["train"].tocsr()
    model = LightFM(no_components=32, loss="warp", random_state=0).fit(train, epochs=20, num_threads=2)
    users = [str(user + 1) for user in range(train.shape[0])]
    items = [str(item + 1) for item in range(train.shape[1])]
    path = _save(folder, "movielens", model, users, items, train, titles=[str(t) for t in data["item_labels"]])
    return path, train


def generated_interactions(n_users: int, n_items: int, n_interactions: int, seed: int = 0):
    """Power-law item popularity (a few items in most users' histories), users of varied activity."""
    rs = np.random.RandomState(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    items = rs.choice(n_items, n_interactions, p=rs.permutation(popularity))
    users = rs.randint(0, n_users, n_interactions)
    matrix = sp.csr_matrix((np.ones(n_interactions, np.float32), (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def generated_model(folder: Path, n_users=20_000, n_items=10_000, n_interactions=500_000, epochs=5, name="generated"):
    from lightfm import LightFM

    train = generated_interactions(n_users, n_items, n_interactions)
    model = LightFM(no_components=32, loss="warp", random_state=0).fit(train, epochs=epochs, num_threads=2)
    users = [f"u{user}" for user in range(n_users)]
    items = [f"i{item}" for item in range(n_items)]
    return _save(folder, name, model, users, items, train), train


def large_model(folder: Path):
    """1,000,000 items (200,000 users, 3,000,000 interactions, 1 epoch) and its faiss index (the defaults of
    ``lightfm index``: IVF, and the similarity index beside it)."""
    from lightfm import LightFM
    from lightfm.ann import ItemIndex

    path, train = generated_model(
        folder, n_users=200_000, n_items=1_000_000, n_interactions=3_000_000, epochs=1, name="large"
    )
    start = time.perf_counter()
    index = ItemIndex.build(LightFM.load(path), num_threads=os.cpu_count())
    index.save(folder / "large.index")
    print(f"  built the index in {time.perf_counter() - start:.0f} s", flush=True)
    return path, train, folder / "large.index"


# -- the server ---------------------------------------------------------------------------------


class Server:
    def __init__(self, args, log_path):
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lightfm", "serve", *map(str, args), "--port", "0"],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 600
        while True:
            match = re.search(r" on (http://127\.0\.0\.1:\d+) ", Path(log_path).read_text())
            if match:
                self.url = match.group(1)
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"lightfm serve did not start:\n{Path(log_path).read_text()}")
            time.sleep(0.1)
        import httpx

        while True:
            try:
                if httpx.get(self.url + "/health", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """CPU time of every process of the server's session (the supervisor and its workers)."""
        total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.process.pid:  # session id
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# -- the load generator -------------------------------------------------------------------------


async def _drive_httpx(url: str, make_request, duration: float):
    """CLIENTS httpx clients sending requests back to back: (latencies of the measured part, errors, first error)."""
    import httpx

    latencies, errors, first_error = [], 0, None
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        measure_from, stop_at = start + WARM_UP_S, start + WARM_UP_S + duration

        async def one_client(seed):
            nonlocal errors, first_error
            rs = np.random.RandomState(seed)
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                method, path, body = make_request(rs)
                try:
                    answer = await (client.get(path) if method == "GET" else client.post(path, content=body,
                                    headers={"content-type": "application/json"}))  # fmt: skip
                    ok = answer.status_code == 200
                    problem = None if ok else f"{answer.status_code}: {answer.text[:200]}"
                except httpx.HTTPError as error:
                    ok, problem = False, repr(error)
                done = time.perf_counter()
                if sent >= measure_from:
                    latencies.append(done - sent)
                    if not ok:
                        errors += 1
                        first_error = first_error or problem

        await asyncio.gather(*(one_client(seed) for seed in range(CLIENTS)))
    return np.array(latencies), errors, first_error


async def _exchange(reader, writer, request: bytes):
    """One HTTP/1.1 request on a kept-alive connection: (status, body, whether the server keeps it open)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return status, body, headers.get("connection", "").lower() != "close"


async def _drive_raw(url: str, make_request, duration: float):
    """As ``_drive_httpx``, with a minimal HTTP/1.1 client on asyncio streams (keep-alive connections, one
    request at a time each, every answer's status and JSON checked): about 0.05 ms of CPU a request
    against httpx's 1 to 1.3 ms, so that on a 2-core machine the cores go to the server, not to the
    load generator."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies, errors, first_error = [], 0, None
    start = time.perf_counter()
    measure_from, stop_at = start + WARM_UP_S, start + WARM_UP_S + duration

    async def one_client(seed):
        nonlocal errors, first_error
        rs = np.random.RandomState(seed)
        connection = None
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            method, path, body = make_request(rs)
            request = f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n".encode()
            if body is not None:
                request += b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
            request += b"\r\n" + (body or b"")
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, int(port))
                status, answer, keep = await asyncio.wait_for(_exchange(*connection, request), 30)
                ok = status == 200 and "items" in json.loads(answer)
                problem = None if ok else f"{status}: {answer[:200].decode(errors='replace')}"
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as error:
                ok, problem, keep = False, repr(error), False
            if not keep and connection is not None:
                connection[1].close()
                connection = None
            done = time.perf_counter()
            if sent >= measure_from:
                latencies.append(done - sent)
                if not ok:
                    errors += 1
                    first_error = first_error or problem
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(one_client(seed) for seed in range(CLIENTS)))
    return np.array(latencies), errors, first_error


DRIVERS = {"raw": _drive_raw, "httpx": _drive_httpx}


def request_makers(n_users: int, n_items: int, popularity: np.ndarray, user_prefix="", item_prefix=""):
    """The three endpoints' requests, each drawn at random by the client's generator."""
    user_ids = [f"{user_prefix}{u + (0 if user_prefix else 1)}" for u in range(n_users)]
    item_ids = [f"{item_prefix}{i + (0 if item_prefix else 1)}" for i in range(n_items)]
    p = popularity / popularity.sum()
    cumulative = np.cumsum(p)

    def get_recommend(rs):
        return "GET", f"/recommend?user={user_ids[rs.randint(n_users)]}&n=10", None

    def post_recommend(rs):
        picks = np.unique(np.minimum(np.searchsorted(cumulative, rs.rand(20)), n_items - 1))
        return "POST", "/recommend", json.dumps({"items": [item_ids[i] for i in picks], "n": 10}).encode()

    def get_similar(rs):
        return "GET", f"/similar?item={item_ids[rs.randint(n_items)]}&n=10", None

    return {"GET /recommend": get_recommend, "POST /recommend": post_recommend, "GET /similar": get_similar}


def client_cpu() -> float:
    times = os.times()
    return times.user + times.system


def busy_cores(seconds: float = 3.0) -> float:
    """Cores busy on the machine over the next ``seconds`` (from /proc/stat), while this benchmark is idle.

    Not the load average: its minute-long memory still holds the previous endpoint's run (the server
    and the load generator keep both cores busy), so it would always read as other work."""

    def busy_and_total():
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle, iowait
        return sum(fields) - idle, sum(fields)

    busy_before, total_before = busy_and_total()
    time.sleep(seconds)
    busy_after, total_after = busy_and_total()
    return (os.cpu_count() or 1) * (busy_after - busy_before) / max(total_after - total_before, 1)


def wait_for_quiet(max_busy: float, patience: float) -> str:
    start = time.monotonic()
    busy = busy_cores()
    while busy > max_busy and time.monotonic() - start < patience:
        print(f"  waiting: {busy:.2f} cores busy with other work > {max_busy}", flush=True)
        time.sleep(10)
        busy = busy_cores()
    if busy > max_busy:
        return f"{busy:.2f} cores busy with other work at the start (waited {patience:.0f} s): numbers are pessimistic"
    return f"{busy:.2f} cores busy with other work at the start"


def served_recall(url, path, train, samples=200, seed=1):
    """Recall@10 of the served answers against the library's exact ones: GET /recommend (seen items left out)
    and GET /similar for ``samples`` random users and items, POST /recommend for ``samples // 2`` new users of 20
    items each (as the load test draws them)."""
    import httpx

    from lightfm import LightFM
    from lightfm.data import Dataset

    model, dataset = LightFM.load(path), Dataset.load(path)
    rs = np.random.RandomState(seed)
    n_users, n_items = train.shape

    def recall(found, expected):
        pairs = zip(found, expected, strict=True)
        return float(np.mean([np.intersect1d(a, b).size / max(np.sum(b >= 0), 1) for a, b in pairs]))

    def items_of(answer):
        return dataset.item_index([row["item"] for row in answer["items"]])

    rows = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        users = rs.choice(n_users, samples, replace=False)
        found = [items_of(client.get("/recommend", params={"user": f"u{u}"}).json()) for u in users]
        expected, _ = model.recommend(users, n=10, exclude=train, num_threads=2)
        rows["GET /recommend"] = recall(found, expected)
        popularity = np.asarray(train.sum(axis=0)).ravel() + 1e-9
        cumulative = np.cumsum(popularity / popularity.sum())
        given = [
            np.unique(np.minimum(np.searchsorted(cumulative, rs.rand(20)), n_items - 1)) for _ in range(samples // 2)
        ]
        found = [items_of(client.post("/recommend", json={"items": [f"i{i}" for i in g]}).json()) for g in given]
        clicks = sp.csr_matrix(
            (np.ones(sum(g.size for g in given), np.float32), np.concatenate(given),
             np.concatenate([[0], np.cumsum([g.size for g in given])])), shape=(len(given), n_items),
        )  # fmt: skip
        representations = model.fold_in_users(clicks)
        expected, _ = model.recommend(n=10, user_representations=representations, exclude=clicks, num_threads=2)
        rows["POST /recommend"] = recall(found, expected)
        items = rs.choice(n_items, samples, replace=False)
        found = [items_of(client.get("/similar", params={"item": f"i{i}"}).json()) for i in items]
        expected, _ = model.similar_items(items, n=10, num_threads=2)
        rows["GET /similar"] = recall(found, expected)
    return rows


def bench(name, path, train, args, folder, extra_args=(), user_prefix="", item_prefix="", duration=None, recall=False):
    import httpx

    popularity = np.asarray((train != 0).sum(axis=0)).ravel().astype(np.float64) + 1e-9
    makers = request_makers(train.shape[0], train.shape[1], popularity, user_prefix, item_prefix)
    duration = args.duration if duration is None else duration
    server = Server([path, "--workers", args.workers, *extra_args], folder / f"{name}.log")
    rows = []
    try:
        recalls = {}
        if recall:
            start = time.perf_counter()
            recalls = served_recall(server.url, path, train)
            print(
                "  recall@10 of the served answers against the exact ones: "
                + ", ".join(f"{endpoint} {value:.3f}" for endpoint, value in recalls.items())
                + f" ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        for endpoint, make in makers.items():
            note = wait_for_quiet(args.max_busy, args.wait)
            server_before, client_before = server.cpu_seconds(), client_cpu()
            latencies, errors, first_error = asyncio.run(DRIVERS[args.client](server.url, make, duration))
            # The warm-up's CPU is in these totals too: per request, over every request sent.
            served = latencies.size * (duration + WARM_UP_S) / duration
            server_ms = (server.cpu_seconds() - server_before) / served * 1e3
            client_ms = (client_cpu() - client_before) / served * 1e3
            health = httpx.get(server.url + "/health").json()
            row = {
                "model": name, "endpoint": endpoint, "requests": int(latencies.size),
                "per_second": latencies.size / duration, "duration_s": duration,
                "p50_ms": float(np.percentile(latencies, 50) * 1e3),
                "p99_ms": float(np.percentile(latencies, 99) * 1e3),
                "errors": errors, "server_cpu_ms": server_ms, "client_cpu_ms": client_ms, "note": note,
                "batch": health["scoring"]["requests"] / max(health["scoring"]["calls"], 1),
                "recall": recalls.get(endpoint),
            }  # fmt: skip
            rows.append(row)
            print(
                f"  {endpoint:<16} {row['per_second']:>7,.0f} req/s  p50 {row['p50_ms']:6.1f} ms  p99 "
                f"{row['p99_ms']:6.1f} ms  errors {errors}  server {server_ms:.2f} / client {client_ms:.2f} ms CPU "
                f"per request  ({note})" + (f"\n    first error: {first_error}" if first_error else ""),
                flush=True,
            )
    finally:
        server.stop()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=["movielens", "generated", "large"],
                        default=["movielens", "generated"])  # fmt: skip
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per endpoint (default 60)")
    parser.add_argument("--workers", type=int, default=1, help="lightfm serve --workers (default 1)")
    parser.add_argument("--data-home", default=str(REPO.parent / "shared" / "data"), help="where MovieLens is")
    parser.add_argument(
        "--max-busy", type=float, default=0.3, help="wait while other work keeps more cores busy (default 0.3)"
    )
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for a quiet machine at most")
    parser.add_argument(
        "--client", choices=sorted(DRIVERS), default="raw",
        help="the load generator: raw (a minimal HTTP/1.1 client, default) or httpx (AsyncClient)",
    )  # fmt: skip
    parser.add_argument(
        "--large-without-index", type=float, default=0, metavar="SECONDS",
        help="large: also serve it without --index (every item scored), for SECONDS per endpoint (default 0: not)",
    )  # fmt: skip
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    cores = os.cpu_count()
    client = "a minimal HTTP/1.1 client on asyncio streams" if args.client == "raw" else "httpx AsyncClient"
    print(
        f"lightfm serve under load: {client}, {CLIENTS} concurrent clients in one process, on the same "
        f"machine as the server ({cores} cores shared by both); {args.duration:g} s per endpoint after a "
        f"{WARM_UP_S:g} s warm-up; --workers {args.workers}",
        flush=True,
    )
    rows = []
    if args.client == "httpx":
        import httpx  # noqa: F401 - imported before the heap is frozen below
    # The load generator's own garbage collections would pause every client at once and count as the
    # server's latency (a full collection of this process's heap, NumPy and httpx included, took up to
    # 45 ms): what exists before the runs is kept out of their reach.
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as temporary:
        folder = Path(temporary)
        for name in args.models:
            print(f"{name}: training", flush=True)
            if name == "movielens":
                path, train = movielens_model(folder, args.data_home)
                print(f"{name}: {train.shape[0]:,} users, {train.shape[1]:,} items", flush=True)
                rows += bench(name, path, train, args, folder, ["--item-names", folder / "movielens_names.csv"])
            elif name == "generated":
                path, train = generated_model(folder)
                print(f"{name}: {train.shape[0]:,} users, {train.shape[1]:,} items", flush=True)
                rows += bench(name, path, train, args, folder, user_prefix="u", item_prefix="i")
            else:
                path, train, index = large_model(folder)
                print(f"{name}: {train.shape[0]:,} users, {train.shape[1]:,} items, --index", flush=True)
                rows += bench("large --index", path, train, args, folder, ["--index", index], "u", "i", recall=True)
                if args.large_without_index:
                    rows += bench(
                        "large", path, train, args, folder, (), "u", "i", duration=args.large_without_index, recall=True
                    )
    print()
    print(
        "| model | endpoint | s | req/s | p50 ms | p99 ms | errors | server CPU ms/req | client CPU ms/req | batch "
        "| recall@10 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        recall = "" if row["recall"] is None else f"{row['recall']:.3f}"
        print(
            f"| {row['model']} | {row['endpoint']} | {row['duration_s']:g} | {row['per_second']:,.0f} | "
            f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['errors']} | {row['server_cpu_ms']:.2f} | "
            f"{row['client_cpu_ms']:.2f} | {row['batch']:.1f} | {recall} |"
        )
    print(
        f"\nThe load generator shares the {cores} cores with the server. 'server CPU ms/req': CPU time of the "
        "server's processes per request (1000 / it: requests per second one core could serve); 'batch': "
        "requests answered per library call, over the server's life."
    )
    for row in rows:
        goal = GOALS.get(row["endpoint"]) if row["model"] == "generated" else None
        if goal:
            met = row["per_second"] >= goal[0] and row["p99_ms"] < goal[1] and row["errors"] == 0
            verdict = "met" if met else "NOT met"
            print(f"goal {row['endpoint']} >= {goal[0]:,} req/s, p99 < {goal[1]} ms, 0 errors: {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if any(row["errors"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
