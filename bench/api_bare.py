"""The same-run peer of bench/api: a bare FastAPI endpoint returning a constant, served the same way
(uvicorn, the same number of workers): what the framework and server cost before any work."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict:
    return {"ok": True}
