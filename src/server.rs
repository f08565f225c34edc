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
//! The accept loop caps concurrent connections, times out slow request headers and TLS
//! handshakes (and HTTP/2 connections left without a request), and on shutdown stops accepting
//! and lets in-flight requests finish.

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
use tokio::sync::{watch, Semaphore};

use crate::compression::{negotiate, ChunkEncoder};
use crate::landing_page::Page;
use crate::metrics::{LabelCache, ScrapeChunks};
use crate::snapshot::Snapshots;
use crate::token_table::{self, Filter};
use crate::web::{BasicAuth, Denied, WebConfigFile};

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long an HTTP/2 connection may go without an open request before it is closed: what the
/// header read timeout is to HTTP/1.1, so that idle connections do not hold the slots of
/// [`MAX_CONNECTIONS`]. Also the interval of the pings that find dead peers.
const HTTP2_IDLE_TIMEOUT: Duration = HEADER_READ_TIMEOUT;
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
}

/// Serves until `shutdown` completes, then drains in-flight connections. With a web config, a
/// watcher task publishes its changes meanwhile ([`WebConfigFile::watch`]).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let _watcher = app.web.as_ref().map(WebConfigFile::watch);
    let graceful = GracefulShutdown::new();
    // HTTP/2 connections close themselves on this (and count in `graceful` until they did).
    let (stopping, stop) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
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
        let tls = app.web.as_ref().and_then(|web| web.current().tls.clone());
        let app = Arc::clone(&app);
        let watcher = graceful.watcher();
        let stop = stop.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, app, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_tls_connection(stream, app, watcher, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("connections still open after the grace period; closing"),
    }
}

/// Serves HTTP/1.1 requests on one connection, plain or TLS, until it closes.
async fn serve_connection<S>(
    stream: S,
    app: Arc<App>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(respond(&app, request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Serves one TLS connection in the protocol ALPN chose: HTTP/2 when the client offered `h2` and
/// the web config allows it (the acceptor offers `h2` only then), else HTTP/1.1.
async fn serve_tls_connection(
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    app: Arc<App>,
    watcher: hyper_util::server::graceful::Watcher,
    stop: watch::Receiver<bool>,
) {
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        serve_http2(stream, app, watcher, stop).await
    } else {
        serve_connection(stream, app, watcher).await
    }
}

/// Serves HTTP/2 requests on one TLS connection until it closes. It closes gracefully (GOAWAY,
/// open requests finish) on shutdown, and after [`HTTP2_IDLE_TIMEOUT`] without an open request.
/// `drain` keeps the server's graceful shutdown waiting until then.
async fn serve_http2<S>(
    stream: S,
    app: Arc<App>,
    drain: hyper_util::server::graceful::Watcher,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let open = OpenRequests::new();
    let service = {
        let open = Arc::clone(&open);
        service_fn(move |request| {
            let app = Arc::clone(&app);
            let request_open = open.start();
            async move {
                let response = respond(&app, request).await;
                Ok::<_, Infallible>(response.map(|body| CountedBody {
                    body,
                    _open: request_open,
                }))
            }
        })
    };
    let connection = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .keep_alive_interval(HTTP2_IDLE_TIMEOUT)
        .keep_alive_timeout(HTTP2_IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        let idle_at = open.idle_deadline();
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
                }
                break;
            }
            // A closed channel means the server is gone: stop as well.
            _ = stop.wait_for(|stopping| *stopping), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = tokio::time::sleep_until(idle_at), if !closing => {
                if open.idle() {
                    tracing::debug!("closing an idle HTTP/2 connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
    drop(drain);
}

/// The requests open on one HTTP/2 connection, and since when none is.
struct OpenRequests(std::sync::Mutex<(usize, tokio::time::Instant)>);

impl OpenRequests {
    fn new() -> Arc<OpenRequests> {
        Arc::new(OpenRequests(std::sync::Mutex::new((
            0,
            tokio::time::Instant::now(),
        ))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, tokio::time::Instant)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a request as open until the returned guard is dropped.
    fn start(self: &Arc<Self>) -> RequestOpen {
        self.lock().0 += 1;
        RequestOpen(Arc::clone(self))
    }

    /// When the connection becomes idle for [`HTTP2_IDLE_TIMEOUT`] if nothing happens meanwhile.
    fn idle_deadline(&self) -> tokio::time::Instant {
        let (open, since) = *self.lock();
        let from = if open == 0 {
            since
        } else {
            tokio::time::Instant::now()
        };
        from + HTTP2_IDLE_TIMEOUT
    }

    /// Whether no request was open for [`HTTP2_IDLE_TIMEOUT`].
    fn idle(&self) -> bool {
        let (open, since) = *self.lock();
        open == 0 && since.elapsed() >= HTTP2_IDLE_TIMEOUT
    }
}

/// One open request of [`OpenRequests`].
struct RequestOpen(Arc<OpenRequests>);

impl Drop for RequestOpen {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.0 -= 1;
        if state.0 == 0 {
            state.1 = tokio::time::Instant::now();
        }
    }
}

/// A response body that keeps its request counted as open until hyper is done with it.
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

/// Applies the web config (basic auth, response headers) around [`handle`].
pub async fn respond(app: &App, request: Request<Incoming>) -> Response<Body> {
    let Some(web) = &app.web else {
        return handle(app, request);
    };
    let settings = web.current();
    if let Some(auth) = &settings.basic_auth {
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
        if let Err(denied) = verdict {
            tracing::debug!(?denied, path = %request.uri().path(), "refused a request without valid credentials");
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: this exporter needs a user and password (basic auth).\n",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, BasicAuth::challenge());
            return with_headers(response.map(Either::Left), &settings.headers);
        }
    }
    with_headers(handle(app, request), &settings.headers)
}

fn with_headers(
    mut response: Response<Body>,
    headers: &[(hyper::header::HeaderName, HeaderValue)],
) -> Response<Body> {
    for (name, value) in headers {
        response.headers_mut().insert(name, value.clone());
    }
    response
}

/// A response body: small fixed ones, or the metrics streamed as they are rendered.
pub type Body = Either<Full<Bytes>, MetricsBody>;

/// Routes one request.
pub fn handle(app: &App, request: Request<Incoming>) -> Response<Body> {
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
        Route::Metrics => return metrics(app, &request),
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

/// A page, with a policy that lets it run no script and load nothing from elsewhere.
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
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn json(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(value).expect("the token table serializes");
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
