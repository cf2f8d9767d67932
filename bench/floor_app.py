"""The floor for HTTP: a bare async FastAPI endpoint doing nothing."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/clients", status_code=201)
async def create() -> dict[str, str]:
    return {"id": "x"}


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
