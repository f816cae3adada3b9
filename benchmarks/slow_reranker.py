"""A slow fake reranker for bench_serve.py: Cohere's /rerank shape, a fixed delay per call, many calls at once.

Run: python benchmarks/slow_reranker.py --port N [--delay-ms 200] [--host 127.0.0.1]

POST .../rerank {model, query, documents, top_n, return_documents, instruct} sleeps
--delay-ms, then answers {"results": [{"index", "relevance_score"}]}, best first. The
score is deterministic: the share of the query's words found in the document (plus a
tie-break favouring shorter documents), so a reranked search still ranks sensibly.
Each connection gets its own thread, so N calls in flight take one delay, not N.
GET /health answers 200. Standard library only; SIGTERM ends it.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def scores(query: str, documents: list) -> list[float]:
    wanted = words(query)
    out = []
    for document in documents:
        text = document if isinstance(document, str) else str((document or {}).get("text", ""))
        found = words(text)
        overlap = len(wanted & found) / len(wanted) if wanted else 0.0
        out.append(round(0.999 * overlap + 0.001 / (1 + len(found)), 6))
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pooled connections are reused
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle + delayed ACK would add ~40 ms
    delay_s = 0.2

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/health", "/v1/health"):
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/rerank"):
            self._answer(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw or b"{}")
            query, documents = str(body["query"]), list(body["documents"])
        except (ValueError, KeyError, TypeError) as exc:
            self._answer(400, {"error": {"message": f"bad rerank body: {exc}"}})
            return
        time.sleep(self.delay_s)
        order = sorted(enumerate(scores(query, documents)), key=lambda pair: (-pair[1], pair[0]))
        top_n = body.get("top_n") or len(documents)
        results = [{"index": i, "relevance_score": s} for i, s in order[:top_n]]
        if body.get("return_documents"):
            for row in results:
                document = documents[row["index"]]
                row["document"] = {"text": document if isinstance(document, str) else document.get("text", "")}
        self._answer(200, {"id": "slow-reranker", "model": body.get("model") or "slow-reranker", "results": results,
                           "meta": {"billed_units": {"search_units": 1}}})

    def log_message(self, format, *args) -> None:  # quiet: thousands of calls per run
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of new connections must not be refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--delay-ms", type=float, default=200.0)
    args = parser.parse_args()
    Handler.delay_s = args.delay_ms / 1000
    with Server((args.host, args.port), Handler) as server:
        print(f"slow reranker on http://{args.host}:{args.port}/v1/rerank, {args.delay_ms:g} ms per call", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
