"""HTTP: the only code that imports BentoML or FastAPI (the service, its routers, the route table).

Import :mod:`serving.http.service` to get the BentoML service (``docket serve`` does).
"""
