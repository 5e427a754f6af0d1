"""The nginx peer of the custom-handler benchmarks (http_bench.py, ch_cpu.py): one config, so
both measure the same proxy. Fill with .format(dir=<scratch dir>, port=<listen>, upstream=<handler port>)."""

NGINX_CONF = """# nginx as a peer: one worker, a keep-alive upstream to the Node custom handler.
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream handler {{
    server 127.0.0.1:{upstream};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://handler;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
