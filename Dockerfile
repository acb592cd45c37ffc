# The API service: `custody serve` on PostgreSQL (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ledger
COPY projections projections
COPY api api
RUN pip install --no-cache-dir .
ENV CUSTODY_DATABASE_URL=postgresql://custody:custody@db:5432/custody
EXPOSE 8000
CMD ["custody", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
