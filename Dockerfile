# The API service: `custody serve` on PostgreSQL (see docker-compose.yml). The image installs
# the built wheel, as a user would, not the source tree.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ledger ledger
COPY projections projections
COPY api api
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
COPY --from=build /dist /dist
RUN pip install --no-cache-dir /dist/*.whl && rm -rf /dist
ENV CUSTODY_DATABASE_URL=postgresql://custody:custody@db:5432/custody
EXPOSE 8000
CMD ["custody", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
