//! The HTTP server: `/metrics`, a landing page, and health and readiness probes.
//!
//! Routes: `GET <telemetry path>` (text format 0.0.4), `GET /` (the token table as a page,
//! [`crate::landing_page`]), `GET /api/v1/tokens` (the same as JSON), `GET /-/healthy`
//! (200 while the process runs), `GET /-/ready` (200 once every org finished its first poll
//! attempt). Other paths answer 404, other methods 405. Whatever Okta does, `/metrics` answers 200
//! with the last known tokens and `okta_up` saying whether they are fresh.
//!
//! With a web config file ([`crate::web`]), connections speak TLS (optionally verifying
//! client certificates), every request must carry a user and password, and configured headers are
//! added to every response. Over TLS, a client that offers HTTP/2 by ALPN gets it, unless the web
//! config turns it off (`http_server_config.http2: false`); plain HTTP is HTTP/1.1 only, as in Go.
//! Each connection and request loads the settings in force (an `Arc`, without a lock or I/O); a
//! watcher task re-reads changed files off the request path, so a changed file applies without a
//! restart.
//!
//! The listener comes from [`crate::web::listen()`] (`--web.listen-address`).
//!
//! The accept loop gives each connection a place ([`crate::web::Connections`]): a peer holds at
//! most `--web.max-connections-per-peer` of them, and a full server closes an idle connection
//! for a new one, so that clients that connect and send nothing, or trickle their headers, or
//! stall in the TLS handshake, cannot keep a scrape waiting. Request headers and TLS handshakes
//! must arrive within `--web.header-timeout` (HTTP/2 connections without a request close after
//! it too). On shutdown it stops accepting and lets in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::compression::{negotiate, ChunkEncoder};
use crate::landing_page::Page;
use crate::metrics::{LabelCache, ScrapeChunks};
use crate::snapshot::Snapshots;
use crate::token_table::{self, Filter};
use crate::web::{
    AllowedHosts, BasicAuth, Connection, ConnectionLimits, ConnectionMetrics, Connections, Denied,
    Refusal, RequestOpen, WebConfigFile,
};

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Requests one HTTP/2 connection may have open at once.
const HTTP2_MAX_STREAMS: u32 = 32;
/// The largest request head accepted, in either protocol.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What the handlers need.
pub struct App {
    pub registry: Registry,
    pub snapshots: Snapshots,
    /// The token labels of the snapshots scraped last, escaped once per snapshot.
    pub labels: LabelCache,
    pub telemetry_path: String,
    /// TLS, basic auth and headers, when `--web.config.file` is given.
    pub web: Option<Arc<WebConfigFile>>,
    /// The server's own flags: connection limits and timeouts.
    pub options: ServerOptions,
}

/// How the server treats connections; from the `--web.*` flags.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub limits: ConnectionLimits,
    /// The names requests may be addressed to (`--web.allowed-hosts`).
    pub allowed_hosts: AllowedHosts,
}

/// Serves until `shutdown` completes, then drains in-flight connections. With a web config, a
/// watcher task publishes its changes meanwhile ([`WebConfigFile::watch`]). The connection
/// metrics are registered in the app's registry.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let _watcher = app.web.as_ref().map(WebConfigFile::watch);
    let connections = Connections::new(app.options.limits);
    let registered = ConnectionMetrics::new(Arc::clone(&connections))
        .and_then(|metrics| app.registry.register(Box::new(metrics)));
    if let Err(e) = registered {
        tracing::warn!(error = %e, "cannot register the connection metrics");
    }
    let graceful = GracefulShutdown::new();
    // HTTP/2 connections close themselves on this (and count in `graceful` until they did).
    let (stopping, stop) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Refused at once, without a byte read: the kernel's backlog never fills with
        // connections waiting for a place.
        let connection = match connections.admit(peer.ip()) {
            Ok(connection) => Arc::new(connection),
            Err(refusal) => {
                tracing::debug!(%peer, reason = refusal.as_str(), "refused a connection");
                continue;
            }
        };
        let tls = app.web.as_ref().and_then(|web| web.current().tls.clone());
        let app = Arc::clone(&app);
        let watcher = graceful.watcher();
        let stop = stop.clone();
        tokio::spawn(async move {
            let serving = serve_accepted(stream, tls, app, Arc::clone(&connection), watcher, stop);
            tokio::select! {
                () = serving => {}
                () = connection.shed() => {
                    tracing::debug!(%peer, "closed an idle connection to make room for a new one");
                }
            }
        });
    }
    drop(listener);
    stopping.send_replace(true);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("connections still open after the grace period; closing"),
    }
}

/// One accepted connection: the TLS handshake (within the header timeout) when the server
/// speaks HTTPS, then its requests.
async fn serve_accepted(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<App>,
    connection: Arc<Connection>,
    watcher: hyper_util::server::graceful::Watcher,
    stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = tls else {
        return serve_connection(stream, app, connection, watcher).await;
    };
    let timeout = app.options.limits.header_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                serve_http2(stream, app, connection, watcher, stop).await
            } else {
                serve_connection(stream, app, connection, watcher).await
            }
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => {
            connection.count(Refusal::HandshakeTimeout);
            tracing::debug!("TLS handshake timed out");
        }
    }
}

/// Serves HTTP/1.1 requests on one connection, plain or TLS, until it closes.
async fn serve_connection<S>(
    stream: S,
    app: Arc<App>,
    connection: Arc<Connection>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = app.options.limits.header_timeout;
    let service = {
        let connection = Arc::clone(&connection);
        service_fn(move |request| {
            let app = Arc::clone(&app);
            let request_open = connection.start_request();
            async move { Ok::<_, Infallible>(counted(respond(&app, request).await, request_open)) }
        })
    };
    let serving = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(serving).await {
        if e.is_timeout() {
            connection.count(Refusal::HeaderTimeout);
        }
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Serves HTTP/2 requests on one TLS connection until it closes. It closes gracefully (GOAWAY,
/// open requests finish) on shutdown, and after the header timeout without an open request
/// (what the header timeout is to HTTP/1.1), so that idle connections hold no place; the same
/// interval paces the pings that find dead peers. `drain` keeps the server's graceful shutdown
/// waiting until then.
async fn serve_http2<S>(
    stream: S,
    app: Arc<App>,
    connection: Arc<Connection>,
    drain: hyper_util::server::graceful::Watcher,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let idle_timeout = app.options.limits.header_timeout;
    let service = {
        let connection = Arc::clone(&connection);
        service_fn(move |request| {
            let app = Arc::clone(&app);
            let request_open = connection.start_request();
            async move { Ok::<_, Infallible>(counted(respond(&app, request).await, request_open)) }
        })
    };
    let serving = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .keep_alive_interval(idle_timeout)
        .keep_alive_timeout(idle_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(serving);
    let mut closing = false;
    loop {
        let idle_at = connection.idle_deadline(idle_timeout);
        tokio::select! {
            result = serving.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
                }
                break;
            }
            // A closed channel means the server is gone: stop as well.
            _ = stop.wait_for(|stopping| *stopping), if !closing => {
                serving.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = tokio::time::sleep_until(idle_at), if !closing => {
                if connection.idle_for(idle_timeout) {
                    tracing::debug!("closing an idle HTTP/2 connection");
                    serving.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
    drop(drain);
}

/// A response whose request counts as in progress until hyper is done with its body.
fn counted(response: Response<Body>, open: RequestOpen) -> Response<CountedBody> {
    response.map(|body| CountedBody { body, _open: open })
}

/// A response body that keeps its request counted as in progress until hyper is done with it.
struct CountedBody {
    body: Body,
    _open: RequestOpen,
}

impl hyper::body::Body for CountedBody {
    type Data = Bytes;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Applies the checks that come before routing, in this order: the allowed hosts
/// (`--web.allowed-hosts`; not for the health probes), the web config's rate limit and basic
/// auth; then [`handle`]. Every response, refusals included, gets `X-Content-Type-Options:
/// nosniff` and the web config's headers ([`finish`]).
pub async fn respond(app: &App, request: Request<Incoming>) -> Response<Body> {
    let settings = app.web.as_ref().map(|web| web.current());
    let headers = settings.as_ref().map_or(&[][..], |s| &s.headers[..]);
    let response = match refusal(app, settings.as_deref(), &request).await {
        Some(refused) => refused.map(Either::Left),
        None => handle(app, &request),
    };
    finish(response, headers)
}

/// Why a request is not routed: an answer instead, or `None` to route it.
async fn refusal(
    app: &App,
    settings: Option<&crate::web::WebSettings>,
    request: &Request<Incoming>,
) -> Option<Response<Full<Bytes>>> {
    let path = request.uri().path();
    let probe = matches!(path, "/-/healthy" | "/-/ready");
    if !probe {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| request.headers().get(header::HOST)?.to_str().ok());
        if !app.options.allowed_hosts.allows(authority) {
            tracing::debug!(host = authority.unwrap_or(""), %path, "refused a request for a host not in --web.allowed-hosts");
            return Some(text(
                StatusCode::BAD_REQUEST,
                "Bad request: this exporter does not answer to that host name; it must be one \
                 of --web.allowed-hosts.\n",
            ));
        }
    }
    let settings = settings?;
    // Before basic auth, on every path, as exporter-toolkit does.
    if let Some(limiter) = &settings.rate_limit {
        if let Err(wait) = limiter.try_acquire() {
            tracing::debug!(%path, "refused a request over the rate limit");
            let mut response = text(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests: the web config's rate_limit is exceeded.\n",
            );
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            return Some(response);
        }
    }
    let auth = settings.basic_auth.as_ref()?;
    let header = request.headers().get(header::AUTHORIZATION).cloned();
    let verdict = if auth.is_cached(header.as_ref()) {
        auth.check(header.as_ref())
    } else {
        // bcrypt is slow on purpose: keep it off the threads that serve other requests.
        let auth = Arc::clone(auth);
        tokio::task::spawn_blocking(move || auth.check(header.as_ref()))
            .await
            .unwrap_or(Err(Denied::WrongCredentials))
    };
    let denied = verdict.err()?;
    tracing::debug!(?denied, %path, "refused a request without valid credentials");
    let mut response = text(
        StatusCode::UNAUTHORIZED,
        "Unauthorized: this exporter needs a user and password (basic auth).\n",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, BasicAuth::challenge());
    Some(response)
}

/// The headers every response gets: `X-Content-Type-Options: nosniff`, then the web config's.
/// A `Content-Security-Policy` from the web config is added next to the page's own rather than
/// replacing it: a browser enforces every policy it is sent, so the page's never gets looser.
fn finish(
    mut response: Response<Body>,
    headers: &[(hyper::header::HeaderName, HeaderValue)],
) -> Response<Body> {
    let out = response.headers_mut();
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in headers {
        if name == header::CONTENT_SECURITY_POLICY && out.contains_key(name) {
            out.append(name, value.clone());
        } else {
            out.insert(name, value.clone());
        }
    }
    response
}

/// A response body: small fixed ones, or the metrics streamed as they are rendered.
pub type Body = Either<Full<Bytes>, MetricsBody>;

/// Routes one request.
pub fn handle(app: &App, request: &Request<Incoming>) -> Response<Body> {
    let path = request.uri().path();
    let route = if path == app.telemetry_path {
        Route::Metrics
    } else {
        match path {
            "/" => Route::Landing,
            crate::landing_page::JSON_PATH => Route::Tokens,
            "/-/healthy" => Route::Healthy,
            "/-/ready" => Route::Ready,
            _ => {
                return text(
                    StatusCode::NOT_FOUND,
                    "Not found. Metrics are at the telemetry path; see /.\n",
                )
                .map(Either::Left)
            }
        }
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed; use GET.\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response.map(Either::Left);
    }
    let response = match route {
        Route::Metrics => return metrics(app, request),
        Route::Landing | Route::Tokens => {
            let filter = match Filter::from_query(request.uri().query().unwrap_or("")) {
                Ok(filter) => filter,
                Err(e) => return bad_request(e.to_string()).map(Either::Left),
            };
            let orgs = app.snapshots.all();
            let now = chrono::Utc::now();
            let tables = token_table::table(&orgs, &filter, now);
            if matches!(route, Route::Tokens) {
                json(&token_table::to_json(&tables))
            } else {
                html(crate::landing_page::render(&Page {
                    tables: &tables,
                    filter: &filter,
                    org_names: orgs.iter().map(|o| o.name.as_str()).collect(),
                    telemetry_path: &app.telemetry_path,
                    now,
                }))
            }
        }
        Route::Healthy => text(StatusCode::OK, "Healthy.\n"),
        Route::Ready if app.snapshots.ready() => text(StatusCode::OK, "Ready.\n"),
        Route::Ready => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: waiting for the first poll of every org.\n",
        ),
    };
    response.map(Either::Left)
}

enum Route {
    Metrics,
    Landing,
    Tokens,
    Healthy,
    Ready,
}

/// The metrics of one scrape, from one snapshot of every org, streamed as they are rendered and
/// compressed as the client asked.
fn metrics(app: &App, request: &Request<Incoming>) -> Response<Body> {
    let orgs = app.snapshots.all();
    let chunks = match ScrapeChunks::new(&app.registry, &app.labels, orgs, chrono::Utc::now()) {
        Ok(chunks) => chunks,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode metrics");
            let message = "Cannot encode metrics; see the exporter's log.\n";
            return text(StatusCode::INTERNAL_SERVER_ERROR, message).map(Either::Left);
        }
    };
    let accept = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding = negotiate(accept);
    let mut response = Response::new(Either::Right(MetricsBody {
        chunks,
        encoder: ChunkEncoder::new(encoding),
    }));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Some(coding) = encoding.header_value() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    response
}

/// The `/metrics` response body: a scrape's text chunks, through the negotiated encoder.
pub struct MetricsBody {
    chunks: ScrapeChunks,
    encoder: Option<ChunkEncoder>,
}

impl hyper::body::Body for MetricsBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = |data: Bytes| std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(data))));
        loop {
            match (this.chunks.next(), &mut this.encoder) {
                (Some(chunk), None) => return frame(chunk),
                (Some(chunk), Some(encoder)) => {
                    let encoded = encoder.encode(&chunk);
                    if !encoded.is_empty() {
                        return frame(encoded);
                    }
                }
                (None, _) => {
                    return match this.encoder.take().map(ChunkEncoder::finish) {
                        Some(rest) if !rest.is_empty() => frame(rest),
                        _ => std::task::Poll::Ready(None),
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.chunks.is_done()
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn bad_request(message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message + "\n")));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A page, with a policy that lets it run no script and load nothing from elsewhere, kept by no
/// cache.
fn html(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&crate::landing_page::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, no_store());
    response
}

/// The page and the JSON name token owners: no cache, shared or private, keeps them.
fn no_store() -> HeaderValue {
    HeaderValue::from_static("no-store")
}

fn json(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(value).expect("the token table serializes");
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, no_store());
    response
}
