FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN make setup
EXPOSE 8501 8000
CMD [".venv/bin/python", "-m", "streamlit", "run", "app/main.py", "--server.address=0.0.0.0"]
