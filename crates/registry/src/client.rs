//! The distribution API over HTTP: authentication, retries and the individual
//! blob/manifest/tag operations. Graph-level work (push, pull, copy) is in `transfer`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ureq::http::{self, Method};

use crate::auth::{parse_challenges, Challenge};
use crate::credentials::{Credential, DockerConfig, Secret};
use crate::digest::{copy_hashing, Digest};
use crate::error::{Error, Result};
use crate::progress::{BlobProgress, Progress, Quiet};
use crate::reference::{api_host, is_loopback, Reference};
use crate::sessions::{SessionKey, SessionStore};

/// Media types a manifest GET accepts: OCI and docker schema 2, single and multi-platform.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// Manifests and configs are small; anything larger is not what it claims to be.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 8 * 1024 * 1024;

pub struct Options {
    /// Reach any registry over plain HTTP (loopback registries always are).
    pub insecure: bool,
    /// How many times a transient failure (5xx, 429, dropped connection) is retried.
    pub retries: u32,
    /// Pause before the first retry; doubled for each next one, up to 30 s.
    pub initial_backoff: Duration,
    /// Blobs moved at the same time.
    pub jobs: usize,
    /// Blobs larger than this are uploaded in PATCH chunks of this size; 0 means always
    /// one monolithic PUT.
    pub chunk_size: u64,
    pub progress: Arc<dyn Progress>,
    /// Credentials; `None` reads the docker CLI's configuration.
    pub docker_config: Option<DockerConfig>,
    /// Deadline for all of the command's network work, retries included.
    pub timeout: Duration,
    /// Longest wait for any progress: connecting, a response, or the next bytes of a body.
    /// Requests that move no blob (manifests, tokens, HEADs) must finish within it.
    pub stall_timeout: Duration,
    /// CA certificates trusted for every registry, on top of the system store and certs.d.
    pub ca_certs: Vec<std::path::PathBuf>,
    /// Where chunked upload sessions are remembered so a later process can resume them
    /// (`default_upload_state_dir()`); `None` keeps them in memory only.
    pub upload_state_dir: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            insecure: false,
            retries: 5,
            initial_backoff: Duration::from_millis(500),
            jobs: 3,
            chunk_size: 64 * 1024 * 1024,
            progress: Arc::new(Quiet),
            docker_config: None,
            timeout: Duration::from_secs(3600),
            stall_timeout: Duration::from_secs(120),
            ca_certs: Vec::new(),
            upload_state_dir: None,
        }
    }
}

/// One client per command: holds the connection pool, credentials and tokens.
pub struct Client {
    /// For plain HTTP; TLS hosts each get an agent with their own trust and client cert.
    agent: ureq::Agent,
    tls_agents: Mutex<HashMap<(String, u16), ureq::Agent>>,
    trust: crate::tls::Trust,
    pub(crate) options: Options,
    config: DockerConfig,
    registries: Mutex<HashMap<String, Arc<RegistryState>>>,
    /// Hosts the user marked insecure (`--insecure` applies to the registries the command
    /// names, never to hosts a registry hands us).
    insecure_hosts: Mutex<std::collections::HashSet<String>>,
    deadline: Instant,
    sessions: Option<SessionStore>,
}

struct RegistryState {
    /// As written in references, for messages and credential lookup.
    name: String,
    base_url: String,
    /// Where the registry's credentials and tokens may go.
    origin: Origin,
    credential: Option<Credential>,
    auth: Mutex<AuthState>,
}

/// scheme://host:port, the unit credentials are scoped to (as browsers and containerd do).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    pub(crate) fn of(url: &str) -> Result<Origin> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| bad("no scheme"))?
            .to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad("only http and https URLs are followed")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        Ok(Origin {
            port: uri.port_u16().unwrap_or(default_port),
            scheme,
            host,
        })
    }

    fn is_tls(&self) -> bool {
        self.scheme == "https"
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// An `Authorization` value and the only origin it may be sent to.
pub(crate) struct Scoped<'a> {
    value: &'a str,
    origin: &'a Origin,
}

/// Redirects followed for one request before giving up.
const MAX_REDIRECTS: usize = 8;

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, String>,
}

/// The body of a request, kept so a retried or re-authenticated request can send it again.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    FileRange {
        path: &'a Path,
        offset: u64,
        len: u64,
        progress: Option<Arc<dyn BlobProgress>>,
    },
}

pub(crate) struct Call<'a> {
    method: Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Body<'a>,
    scopes: Vec<String>,
    /// Moves a blob, so only the stall timeout and the deadline bound it.
    bulk: bool,
}

impl<'a> Call<'a> {
    fn new(method: Method, url: String, scopes: Vec<String>) -> Self {
        Call {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            scopes,
            bulk: false,
        }
    }

    fn bulk(mut self) -> Self {
        self.bulk = true;
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }
}

type Response = http::Response<ureq::Body>;

impl Client {
    pub fn new(mut options: Options) -> Result<Self> {
        let mut config = match options.docker_config.take() {
            Some(config) => config,
            None => DockerConfig::load()?,
        };
        config.set_helper_timeout(options.stall_timeout);
        let agent = build_agent(&options, None);
        let trust = crate::tls::Trust::new(&options.ca_certs)?;
        options.jobs = options.jobs.max(1);
        let deadline = Instant::now() + options.timeout;
        let sessions = options.upload_state_dir.clone().map(SessionStore::new);
        Ok(Client {
            deadline,
            sessions,
            tls_agents: Mutex::new(HashMap::new()),
            trust,
            agent,
            options,
            config,
            registries: Mutex::new(HashMap::new()),
            insecure_hosts: Mutex::new(Default::default()),
        })
    }

    /// The agent for an origin: TLS hosts get their certs.d CAs and client certificate.
    fn agent_for(&self, origin: &Origin) -> Result<ureq::Agent> {
        if !origin.is_tls() {
            return Ok(self.agent.clone());
        }
        let key = (origin.host.clone(), origin.port);
        let mut agents = self.tls_agents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(agent) = agents.get(&key) {
            return Ok(agent.clone());
        }
        let config = self.trust.config_for(&origin.host, origin.port)?;
        let agent = build_agent(&self.options, Some(config));
        agents.insert(key, agent.clone());
        Ok(agent)
    }

    /// Loopback and insecure registries may speak either; like docker, try HTTPS first and
    /// use plain HTTP only when the server does not speak TLS at all. A certificate
    /// problem is an error, not a reason to drop to plain HTTP (unless --insecure).
    fn choose_scheme(&self, registry: &str) -> Result<&'static str> {
        let url = format!("https://{}/v2/", api_host(registry));
        let origin = Origin::of(&url)?;
        match self.send_once(&Method::GET, &url, &origin, &[], &Body::Empty, None, false) {
            Ok(_) => Ok("https"),
            Err(Error::Tls { .. }) if self.options.insecure => Ok("http"),
            Err(error @ Error::Tls { .. }) => Err(error),
            Err(_) => Ok("http"),
        }
    }

    pub fn progress(&self) -> &dyn Progress {
        self.options.progress.as_ref()
    }

    /// A handle on one repository; the registry is contacted lazily.
    pub fn repository(&self, reference: &Reference) -> Result<Repository<'_>> {
        let state = self.registry(&reference.registry)?;
        Ok(Repository {
            client: self,
            state,
            name: reference.repository.clone(),
        })
    }

    fn registry(&self, registry: &str) -> Result<Arc<RegistryState>> {
        let mut registries = self.registries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = registries.get(registry) {
            return Ok(state.clone());
        }
        let scheme = if is_loopback(registry) || self.options.insecure {
            self.choose_scheme(registry)?
        } else {
            "https"
        };
        let base_url = format!("{scheme}://{}", api_host(registry));
        let origin = Origin::of(&base_url)?;
        if self.options.insecure {
            self.insecure_hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(origin.host.clone());
        }
        let state = Arc::new(RegistryState {
            name: registry.to_string(),
            base_url,
            origin,
            credential: self.config.credential_for(registry)?,
            auth: Mutex::new(AuthState::default()),
        });
        registries.insert(registry.to_string(), state.clone());
        Ok(state)
    }

    /// Runs `op` again after transient failures, with exponential backoff.
    pub(crate) fn with_retries<T>(
        &self,
        what: &str,
        mut op: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        let mut delay = self.options.initial_backoff;
        let mut attempt = 0;
        loop {
            match op() {
                Err(error) if error.is_transient() && attempt < self.options.retries => {
                    self.options.progress.retrying(what, &error, delay);
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(30));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// A small body (manifest, token, tag list), at most `limit` bytes.
    fn read_limited(
        &self,
        response: Response,
        method: &'static str,
        url: &str,
        limit: u64,
    ) -> Result<Vec<u8>> {
        read_capped(response, limit).map_err(|e| self.network_error(method, url, e))
    }

    /// A transport failure, with timeouts told apart: the command's deadline is final, a
    /// stall is worth a retry. Both name the host and the request.
    pub(crate) fn network_error(
        &self,
        method: &'static str,
        url: &str,
        source: ureq::Error,
    ) -> Error {
        let host = Origin::of(url)
            .map(|o| format!("{}:{}", o.host, o.port))
            .unwrap_or_else(|_| url.to_string());
        let what = format!("{method} {url}");
        match source {
            ureq::Error::Timeout(ureq::Timeout::Global) => Error::DeadlineExceeded {
                host,
                what,
                limit: self.options.timeout,
            },
            ureq::Error::Timeout(phase) => Error::Stalled {
                host,
                what,
                phase: stall_phase(phase),
                limit: self.options.stall_timeout,
            },
            ureq::Error::Io(io) if timeout_inside(&io).is_some() => {
                let phase = timeout_inside(&io).unwrap_or(ureq::Timeout::PerRead);
                self.network_error(method, url, ureq::Error::Timeout(phase))
            }
            source => match (
                crate::tls::rustls_error(&source).and_then(crate::tls::certificate_problem),
                Origin::of(url),
            ) {
                (Some((problem, fix)), Ok(origin)) => Error::Tls {
                    host,
                    problem,
                    advice: fix.advice(&self.trust.suggested_dir(&origin.host, origin.port)),
                },
                _ => Error::Transport {
                    method,
                    url: url.to_string(),
                    source: Box::new(source),
                },
            },
        }
    }

    /// Plain HTTP only to loopback or to a host the user marked insecure; this holds for
    /// every URL, including realms, upload locations and redirects a registry hands us.
    fn check_transport(&self, url: &str) -> Result<Origin> {
        let origin = Origin::of(url)?;
        if origin.is_tls() || is_loopback(&origin.host) {
            return Ok(origin);
        }
        let marked = self
            .insecure_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&origin.host);
        if marked {
            Ok(origin)
        } else {
            Err(Error::PlainHttpRefused {
                url: url.to_string(),
            })
        }
    }

    /// Sends one request, following redirects itself: each hop must pass the plain-HTTP
    /// policy, and `authorization` goes only to the origin it is scoped to, so a redirect
    /// to a CDN or another host never carries a password or token.
    fn send_raw(&self, call: &Call<'_>, authorization: Option<Scoped<'_>>) -> Result<Response> {
        let mut url = call.url.clone();
        let mut method = call.method.clone();
        let mut body = &call.body;
        for _ in 0..=MAX_REDIRECTS {
            let origin = self.check_transport(&url)?;
            let sent_authorization = authorization
                .as_ref()
                .filter(|scoped| *scoped.origin == origin)
                .map(|scoped| scoped.value);
            let bulk = call.bulk || matches!(body, Body::FileRange { .. });
            let response = self.send_once(
                &method,
                &url,
                &origin,
                &call.headers,
                body,
                sent_authorization,
                bulk,
            )?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(response);
            }
            let Some(location) = header(&response, "Location") else {
                return Ok(response);
            };
            url = resolve_against(&url, &location);
            // 303, and 301/302 after anything but GET/HEAD, become a GET without body
            // (what browsers and Go's client do); 307/308 repeat the request as it was.
            let keep_method = matches!(status, 307 | 308)
                || matches!(method, Method::GET | Method::HEAD) && status != 303;
            if !keep_method {
                method = Method::GET;
                body = &Body::Empty;
            }
        }
        Err(Error::Status {
            method: method_str(&call.method),
            url: call.url.clone(),
            status: 310,
            detail: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn send_once(
        &self,
        method: &Method,
        url: &str,
        origin: &Origin,
        headers: &[(&'static str, String)],
        body: &Body<'_>,
        authorization: Option<&str>,
        bulk: bool,
    ) -> Result<Response> {
        let method_name = method_str(method);
        let transport = |source: ureq::Error| self.network_error(method_name, url, source);
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(self.network_error(
                method_name,
                url,
                ureq::Error::Timeout(ureq::Timeout::Global),
            ));
        }
        let per_call = (!bulk).then_some(self.options.stall_timeout);
        let agent = self.agent_for(origin)?;
        let limits = Limits {
            agent: &agent,
            remaining,
            per_call,
        };
        let mut builder = http::Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        if let Some(value) = authorization {
            builder = builder.header("Authorization", value);
        }
        let http_error = |e: http::Error| transport(ureq::Error::Http(e));
        match body {
            Body::Empty => {
                let needs_length = matches!(*method, Method::PUT | Method::POST | Method::PATCH);
                if needs_length {
                    builder = builder.header("Content-Length", "0");
                }
                let request = builder.body(ureq::SendBody::none()).map_err(http_error)?;
                agent.run(limits.apply(request)).map_err(transport)
            }
            Body::Bytes(bytes) => {
                let mut slice: &[u8] = bytes;
                let request = builder
                    .header("Content-Length", bytes.len().to_string())
                    .body(ureq::SendBody::from_reader(&mut slice))
                    .map_err(http_error)?;
                agent.run(limits.apply(request)).map_err(transport)
            }
            Body::FileRange {
                path,
                offset,
                len,
                progress,
            } => {
                let mut file = File::open(path).map_err(|e| Error::io(*path, e))?;
                file.seek(SeekFrom::Start(*offset))
                    .map_err(|e| Error::io(*path, e))?;
                if let Some(progress) = progress {
                    progress.reset();
                }
                let reader = CountingReader {
                    inner: file.take(*len),
                    progress: progress.clone(),
                };
                let request = builder
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .map_err(http_error)?;
                agent.run(limits.apply(request)).map_err(transport)
            }
        }
    }
}

fn build_agent(options: &Options, tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("pyoci/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(options.stall_timeout))
        .timeout_recv_response(Some(options.stall_timeout))
        // A registry that stops sending mid-blob is a dropped connection, not a slow one.
        .timeout_per_read(Some(options.stall_timeout))
        .timeout_per_write(Some(options.stall_timeout))
        // Redirects are followed by `send_raw`, which decides per hop whether the
        // Authorization header may go along and whether plain HTTP is acceptable.
        .max_redirects(0);
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().new_agent()
}

/// The deadline's remainder and, for requests that move no blob, the stall limit as a
/// bound on the whole exchange.
struct Limits<'a> {
    agent: &'a ureq::Agent,
    remaining: Duration,
    per_call: Option<Duration>,
}

impl Limits<'_> {
    fn apply<S: ureq::AsSendBody>(&self, request: http::Request<S>) -> http::Request<S> {
        self.agent
            .configure_request(request)
            .timeout_global(Some(self.remaining))
            .timeout_per_call(self.per_call)
            .build()
    }
}

/// The ureq timeout an I/O error from a body reader wraps, if any.
fn timeout_inside(io: &std::io::Error) -> Option<ureq::Timeout> {
    match io.get_ref()?.downcast_ref::<ureq::Error>()? {
        ureq::Error::Timeout(phase) => Some(*phase),
        _ => None,
    }
}

fn stall_phase(phase: ureq::Timeout) -> &'static str {
    match phase {
        ureq::Timeout::Resolve => "resolving the host name",
        ureq::Timeout::Connect => "connecting",
        ureq::Timeout::SendRequest | ureq::Timeout::SendBody | ureq::Timeout::PerWrite => {
            "sending (the registry stopped reading)"
        }
        ureq::Timeout::RecvResponse => "waiting for the response",
        ureq::Timeout::PerCall => "the whole request",
        _ => "receiving (no bytes arrived)",
    }
}

/// A `Location` (absolute, absolute-path or relative) resolved against the URL it came from.
fn resolve_against(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    if location.starts_with("//") {
        let scheme = &base[..after_scheme.saturating_sub(3)];
        return format!("{scheme}:{location}");
    }
    if location.starts_with('/') {
        return format!("{}{location}", &base[..authority_end]);
    }
    let path = base[authority_end..].split('?').next().unwrap_or("");
    let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let directory = if directory.is_empty() { "/" } else { directory };
    format!("{}{directory}{location}", &base[..authority_end])
}

struct CountingReader<R> {
    inner: R,
    progress: Option<Arc<dyn BlobProgress>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(progress) = &self.progress {
            progress.advance(n as u64);
        }
        Ok(n)
    }
}

fn method_str(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

impl RegistryState {
    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn no_credentials(&self) -> Error {
        Error::Unauthorized {
            registry: self.name.clone(),
            reason: format!(
                "the registry requires credentials and none are configured for it \
                 (run `docker login {}`, or add it to $DOCKER_CONFIG/config.json)",
                self.name
            ),
        }
    }

    fn rejected(&self, what: &str) -> Error {
        let who = match &self.credential {
            Some(credential) => format!("credentials ({}) were rejected", credential.describe()),
            None => "anonymous access was refused".to_string(),
        };
        Error::Unauthorized {
            registry: self.name.clone(),
            reason: format!(
                "{what}: {who}; check the username and password (docker login {})",
                self.name
            ),
        }
    }
}

/// One repository on one registry.
pub struct Repository<'c> {
    client: &'c Client,
    state: Arc<RegistryState>,
    name: String,
}

/// An upload in progress: where to send the next chunk and how many bytes the registry
/// has acknowledged.
#[derive(Debug, Clone)]
pub struct UploadSession {
    pub location: String,
    pub offset: u64,
}

pub enum MountOutcome {
    Mounted,
    /// The registry would not mount and opened an upload session instead.
    UploadAt(String),
}

impl<'c> Repository<'c> {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn registry(&self) -> &str {
        &self.state.name
    }

    pub(crate) fn client(&self) -> &'c Client {
        self.client
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{}", self.state.base_url, self.name, rest)
    }

    fn pull_scope(&self) -> Vec<String> {
        vec![format!("repository:{}:pull", self.name)]
    }

    fn push_scope(&self) -> Vec<String> {
        vec![format!("repository:{}:pull,push", self.name)]
    }

    fn resolve_location(&self, location: &str) -> String {
        resolve_against(&format!("{}/v2/", self.state.base_url), location)
    }

    /// Learns how the registry wants to be authenticated (`GET /v2/`), once per registry.
    fn discover(&self) -> Result<Challenge> {
        if let Some(challenge) = self.state.lock().challenge.clone() {
            return Ok(challenge);
        }
        let url = format!("{}/v2/", self.state.base_url);
        let call = Call::new(Method::GET, url.clone(), Vec::new());
        let response = self.client.with_retries(&format!("GET {url}"), || {
            let response = self.client.send_raw(&call, None)?;
            let status = response.status().as_u16();
            if status >= 500 || status == 429 {
                return Err(status_error(response, "GET", &url));
            }
            Ok(response)
        })?;
        let challenge = match response.status().as_u16() {
            401 => challenge_of(&response).ok_or_else(|| Error::Unauthorized {
                registry: self.state.name.clone(),
                reason:
                    "the registry asks for authentication with a scheme other than Basic or Bearer"
                        .to_string(),
            })?,
            _ => Challenge::Anonymous,
        };
        self.state.lock().challenge = Some(challenge.clone());
        Ok(challenge)
    }

    fn authorization(&self, scopes: &[String]) -> Result<Option<String>> {
        match self.discover()? {
            Challenge::Anonymous => Ok(None),
            Challenge::Basic => match &self.state.credential {
                Some(Credential {
                    secret: Secret::Basic { username, password },
                    ..
                }) => Ok(Some(basic_header(username, password))),
                Some(_) => Err(Error::Unauthorized {
                    registry: self.state.name.clone(),
                    reason: "the registry wants a username and password, but the configured \
                             credential is an identity token"
                        .to_string(),
                }),
                None => Err(self.state.no_credentials()),
            },
            Challenge::Bearer { realm, service } => {
                let key = scopes.join(" ");
                if let Some(token) = self.state.lock().tokens.get(&key) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scopes)?;
                self.state.lock().tokens.insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        for scope in scopes {
            query.push(("scope", scope));
        }
        let response = self
            .client
            .with_retries(&format!("token from {realm}"), || {
                let response = match &self.state.credential {
                    Some(Credential {
                        secret: Secret::IdentityToken { token },
                        ..
                    }) => {
                        let mut form = query.clone();
                        form.push(("grant_type", "refresh_token"));
                        form.push(("refresh_token", token));
                        form.push(("client_id", "pyoci"));
                        let body = encode_query(&form);
                        let call = Call::new(Method::POST, realm.to_string(), Vec::new())
                            .header("Content-Type", "application/x-www-form-urlencoded")
                            .body(Body::Bytes(body.as_bytes()));
                        self.client.send_raw(&call, None)?
                    }
                    credential => {
                        let separator = if realm.contains('?') { '&' } else { '?' };
                        let url = format!("{realm}{separator}{}", encode_query(&query));
                        let authorization = match credential {
                            Some(Credential {
                                secret: Secret::Basic { username, password },
                                ..
                            }) => Some(basic_header(username, password)),
                            _ => None,
                        };
                        let call = Call::new(Method::GET, url, Vec::new());
                        // Basic credentials go to the realm the registry named, but only
                        // over a transport `send_raw` accepts (TLS, loopback, insecure).
                        let realm_origin = Origin::of(realm)?;
                        let scoped = authorization.as_deref().map(|value| Scoped {
                            value,
                            origin: &realm_origin,
                        });
                        self.client.send_raw(&call, scoped)?
                    }
                };
                let status = response.status().as_u16();
                if status >= 500 || status == 429 {
                    return Err(status_error(response, "GET", realm));
                }
                Ok(response)
            })?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(self.state.rejected(&format!("token service {realm}")));
        }
        if status != 200 {
            return Err(status_error(response, "GET", realm));
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let bytes = self
            .client
            .read_limited(response, "GET", realm, MAX_MANIFEST_BYTES)?;
        let reply: TokenReply =
            serde_json::from_slice(&bytes).map_err(|e| Error::Unauthorized {
                registry: self.state.name.clone(),
                reason: format!(
                    "token service {realm} answered with something other than a token: {e}"
                ),
            })?;
        reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Unauthorized {
                registry: self.state.name.clone(),
                reason: format!("token service {realm} returned no token"),
            })
    }

    /// The registry's credentials and tokens are for the registry's own origin only: an
    /// upload location or redirect elsewhere gets no Authorization header.
    fn scoped<'s>(&'s self, authorization: &'s Option<String>) -> Option<Scoped<'s>> {
        authorization.as_deref().map(|value| Scoped {
            value,
            origin: &self.state.origin,
        })
    }

    /// Sends `call` with credentials; a 401 re-reads the challenge and fetches a fresh token once.
    fn send(&self, call: &Call<'_>) -> Result<Response> {
        let authorization = self.authorization(&call.scopes)?;
        let response = self.client.send_raw(call, self.scoped(&authorization))?;
        if response.status().as_u16() != 401 {
            return Ok(response);
        }
        // Tokens expire, and a registry may want a different scope than we guessed.
        let renewed = challenge_of(&response);
        {
            let mut state = self.state.lock();
            state.tokens.remove(&call.scopes.join(" "));
            if let Some(challenge) = renewed {
                state.challenge = Some(challenge);
            }
        }
        let authorization = self.authorization(&call.scopes)?;
        let response = self.client.send_raw(call, self.scoped(&authorization))?;
        if response.status().as_u16() == 401 {
            return Err(self
                .state
                .rejected(&format!("{} {}", method_str(&call.method), call.url)));
        }
        Ok(response)
    }

    /// `send`, failing on any status outside `ok` (5xx and 429 as transient errors).
    fn send_expect(&self, call: &Call<'_>, ok: &[u16]) -> Result<Response> {
        let response = self.send(call)?;
        if ok.contains(&response.status().as_u16()) {
            Ok(response)
        } else {
            Err(status_error(response, method_str(&call.method), &call.url))
        }
    }

    pub fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        let call = Call::new(
            Method::HEAD,
            self.url(&format!("blobs/{digest}")),
            self.pull_scope(),
        );
        self.client
            .with_retries(&format!("HEAD blob {digest}"), || {
                let response = self.send_expect(&call, &[200, 404])?;
                Ok(response.status().as_u16() == 200)
            })
    }

    /// Asks the registry to link a blob it already holds in repository `from`.
    pub fn mount_blob(&self, digest: &Digest, from: &str) -> Result<MountOutcome> {
        let mut scopes = self.push_scope();
        scopes.push(format!("repository:{from}:pull"));
        let url = self.url(&format!("blobs/uploads/?mount={digest}&from={from}"));
        let call = Call::new(Method::POST, url, scopes);
        self.client.with_retries(&format!("mount {digest}"), || {
            let response = self.send_expect(&call, &[201, 202])?;
            if response.status().as_u16() == 201 {
                Ok(MountOutcome::Mounted)
            } else {
                Ok(MountOutcome::UploadAt(
                    self.location(&response, "POST", &call.url)?,
                ))
            }
        })
    }

    fn location(&self, response: &Response, method: &'static str, url: &str) -> Result<String> {
        let location = response
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Status {
                method,
                url: url.to_string(),
                status: response.status().as_u16(),
                detail: "the registry sent no Location for the upload".to_string(),
            })?;
        Ok(self.resolve_location(location))
    }

    fn session_key<'k>(&'k self, digest: &'k Digest, size: u64) -> SessionKey<'k> {
        SessionKey {
            registry: &self.state.base_url,
            repository: &self.name,
            digest,
            size,
        }
    }

    /// A URL on this registry's own origin that the plain-HTTP policy lets us reach.
    fn own_origin(&self, url: &str) -> bool {
        Origin::of(url).is_ok_and(|origin| origin == self.state.origin)
            && self.client.check_transport(url).is_ok()
    }

    /// The blob is in the repository: a session an earlier process left for it is moot.
    pub fn forget_upload(&self, digest: &Digest, size: u64) {
        if let Some(store) = &self.client.sessions {
            store.forget(&self.session_key(digest, size));
        }
    }

    /// Whether the repository holds the manifest `digest` (`HEAD`, nothing downloaded).
    pub fn manifest_exists(&self, digest: &Digest) -> Result<bool> {
        let call = Call::new(
            Method::HEAD,
            self.url(&format!("manifests/{digest}")),
            self.pull_scope(),
        )
        .header("Accept", MANIFEST_ACCEPT);
        self.client
            .with_retries(&format!("HEAD manifest {digest}"), || {
                let response = self.send_expect(&call, &[200, 404])?;
                Ok(response.status().as_u16() == 200)
            })
    }

    fn start_upload(&self) -> Result<String> {
        let call = Call::new(Method::POST, self.url("blobs/uploads/"), self.push_scope());
        let response = self.send_expect(&call, &[202])?;
        self.location(&response, "POST", &call.url)
    }

    /// Uploads the blob stored at `path`, monolithically or in chunks by size. Not retried
    /// here; the caller retries with the same `session`: a chunked upload then asks the
    /// registry how much it holds and resumes from that offset instead of starting over.
    pub fn upload_blob(
        &self,
        digest: &Digest,
        size: u64,
        path: &Path,
        session: &mut Option<UploadSession>,
        progress: &Arc<dyn BlobProgress>,
    ) -> Result<()> {
        let chunk_size = self.client.options.chunk_size;
        let finish_url = |location: &str| {
            let separator = if location.contains('?') { '&' } else { '?' };
            format!("{location}{separator}digest={digest}")
        };
        if chunk_size > 0 && size > chunk_size {
            let key = self.session_key(digest, size);
            let store = self.client.sessions.as_ref();
            // A session an earlier process left: only when on this registry's own origin and
            // reachable under the plain-HTTP policy.
            if session.is_none() {
                if let Some((location, offset)) =
                    store.and_then(|store| store.load(&key, |url| self.own_origin(url)))
                {
                    *session = Some(UploadSession { location, offset });
                }
            }
            // The session is kept until replaced: if asking about it fails transiently, the
            // caller's retry asks again instead of starting over.
            let (mut location, mut offset) = match session.clone() {
                Some(previous) => match self.upload_offset(&previous)? {
                    Some(resumed) => resumed,
                    None => {
                        if let Some(store) = store {
                            store.forget(&key);
                        }
                        (self.start_upload()?, 0)
                    }
                },
                None => (self.start_upload()?, 0),
            };
            // A registry may report an offset and then refuse to continue there (distribution
            // does when the interrupted request left part of a chunk behind): the first chunk
            // after resuming may therefore restart the upload once.
            let mut resumed = offset > 0;
            if offset > size {
                offset = 0;
                location = self.start_upload()?;
            }
            progress.reset();
            progress.advance(offset);
            if offset > 0 {
                progress.resumed(offset);
            }
            *session = Some(UploadSession {
                location: location.clone(),
                offset,
            });
            while offset < size {
                let len = chunk_size.min(size - offset);
                let call = Call::new(Method::PATCH, location.clone(), self.push_scope())
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{}-{}", offset, offset + len - 1))
                    .body(Body::FileRange {
                        path,
                        offset,
                        len,
                        progress: None,
                    });
                let response = match self.send_expect(&call, &[202]) {
                    Err(error) if resumed && !error.is_transient() => {
                        resumed = false;
                        if let Some(store) = store {
                            store.forget(&key);
                        }
                        location = self.start_upload()?;
                        offset = 0;
                        progress.reset();
                        let _ = error;
                        continue;
                    }
                    other => other?,
                };
                resumed = false;
                location = self.location(&response, "PATCH", &call.url)?;
                offset += len;
                progress.advance(len);
                *session = Some(UploadSession {
                    location: location.clone(),
                    offset,
                });
                if let Some(store) = store {
                    store.save(&key, &location, offset);
                }
            }
            let call = Call::new(Method::PUT, finish_url(&location), self.push_scope());
            self.send_expect(&call, &[201])?;
            *session = None;
            if let Some(store) = store {
                store.forget(&key);
            }
        } else {
            let location = match session.take() {
                Some(UploadSession {
                    location,
                    offset: 0,
                }) => location,
                _ => self.start_upload()?,
            };
            let call = Call::new(Method::PUT, finish_url(&location), self.push_scope())
                .header("Content-Type", "application/octet-stream")
                .body(Body::FileRange {
                    path,
                    offset: 0,
                    len: size,
                    progress: Some(progress.clone()),
                });
            self.send_expect(&call, &[201])?;
        }
        Ok(())
    }

    /// Where an interrupted upload stands (`GET` on its location: `Range: 0-<last byte>`),
    /// or `None` when the registry no longer knows it and the upload must start over.
    fn upload_offset(&self, session: &UploadSession) -> Result<Option<(String, u64)>> {
        if session.offset == 0 {
            return Ok(Some((session.location.clone(), 0)));
        }
        let call = Call::new(Method::GET, session.location.clone(), self.push_scope());
        let response = match self.send(&call) {
            Ok(response) if response.status().as_u16() == 204 => response,
            Err(error) if error.is_transient() => return Err(error),
            Ok(response) if response.status().as_u16() >= 500 => {
                return Err(status_error(response, "GET", &call.url))
            }
            _ => return Ok(None),
        };
        let Some(end) = header(&response, "Range")
            .and_then(|range| range.trim().strip_prefix("0-").map(str::to_string))
            .and_then(|end| end.parse::<u64>().ok())
        else {
            return Ok(None);
        };
        let location = match header(&response, "Location") {
            Some(location) => self.resolve_location(&location),
            None => session.location.clone(),
        };
        Ok(Some((location, end + 1)))
    }

    /// Fetches a manifest by tag or digest: its bytes, media type and digest. When asked by
    /// digest, the bytes are verified against it; by tag, against the registry's
    /// Docker-Content-Digest header when present.
    pub fn get_manifest(&self, reference: &str) -> Result<(Vec<u8>, String, Digest)> {
        self.get_manifest_sized(reference, None)
    }

    /// `get_manifest`, reading at most `size` bytes when a descriptor states it (a longer
    /// body is cut off and fails verification) and never more than the manifest cap.
    pub fn get_manifest_sized(
        &self,
        reference: &str,
        size: Option<u64>,
    ) -> Result<(Vec<u8>, String, Digest)> {
        let limit = size.unwrap_or(MAX_MANIFEST_BYTES).min(MAX_MANIFEST_BYTES);
        let url = self.url(&format!("manifests/{reference}"));
        let call = Call::new(Method::GET, url.clone(), self.pull_scope())
            .header("Accept", MANIFEST_ACCEPT);
        let (bytes, media_type, header_digest) =
            self.client
                .with_retries(&format!("GET manifest {reference}"), || {
                    let response = self.send_expect(&call, &[200])?;
                    let media_type = header(&response, "Content-Type").unwrap_or_default();
                    let header_digest = header(&response, "Docker-Content-Digest");
                    let bytes = self.client.read_limited(response, "GET", &url, limit)?;
                    Ok((bytes, media_type, header_digest))
                })?;
        let expected = match Digest::parse(reference) {
            Ok(digest) => Some(digest),
            Err(_) => header_digest.as_deref().map(Digest::parse).transpose()?,
        };
        let digest = match expected {
            Some(expected) => {
                expected.verify("manifest", &bytes)?;
                expected
            }
            None => Digest::of(crate::digest::Algorithm::Sha256, &bytes),
        };
        let media_type = media_type_of(&bytes).unwrap_or(media_type);
        Ok((bytes, media_type, digest))
    }

    /// The digest a tag points to now, or `None` if the tag does not exist.
    pub fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>> {
        let url = self.url(&format!("manifests/{tag}"));
        let call =
            Call::new(Method::HEAD, url, self.pull_scope()).header("Accept", MANIFEST_ACCEPT);
        let found = self
            .client
            .with_retries(&format!("HEAD manifest {tag}"), || {
                let response = self.send_expect(&call, &[200, 404])?;
                Ok((response.status().as_u16() == 200)
                    .then(|| header(&response, "Docker-Content-Digest")))
            })?;
        match found {
            None => Ok(None),
            Some(Some(digest)) => Ok(Some(Digest::parse(&digest)?)),
            // No digest header: ask for the bytes and hash them.
            Some(None) => Ok(Some(self.get_manifest(tag)?.2)),
        }
    }

    /// Stores a manifest under a digest or tag. The registry checks every blob it refers to,
    /// so a manifest is never accepted before its blobs are.
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<()> {
        let call = Call::new(
            Method::PUT,
            self.url(&format!("manifests/{reference}")),
            self.push_scope(),
        )
        .header("Content-Type", media_type)
        .body(Body::Bytes(bytes));
        self.client
            .with_retries(&format!("PUT manifest {reference}"), || {
                self.send_expect(&call, &[200, 201]).map(drop)
            })
    }

    pub fn delete_manifest(&self, digest: &Digest) -> Result<()> {
        let scopes = vec![format!("repository:{}:pull,push,delete", self.name)];
        let call = Call::new(
            Method::DELETE,
            self.url(&format!("manifests/{digest}")),
            scopes,
        );
        self.client
            .with_retries(&format!("DELETE manifest {digest}"), || {
                let response = self.send(&call)?;
                match response.status().as_u16() {
                    200 | 202 | 404 => Ok(()),
                    405 => Err(Error::DeleteDisabled {
                        repository: format!("{}/{}", self.state.name, self.name),
                        status: 405,
                    }),
                    _ => Err(status_error(response, "DELETE", &call.url)),
                }
            })
    }

    /// Small blobs (image configs) read into memory and verified.
    pub fn get_blob_bytes(&self, digest: &Digest) -> Result<Vec<u8>> {
        let url = self.url(&format!("blobs/{digest}"));
        let call = Call::new(Method::GET, url.clone(), self.pull_scope());
        let bytes = self
            .client
            .with_retries(&format!("GET blob {digest}"), || {
                let response = self.send_expect(&call, &[200])?;
                self.client
                    .read_limited(response, "GET", &url, MAX_MANIFEST_BYTES)
            })?;
        digest.verify("blob", &bytes)?;
        Ok(bytes)
    }

    /// Downloads a blob into a new file in `dir`, verifying size and digest before
    /// returning it; nothing unverified is left behind.
    pub fn download_blob(
        &self,
        digest: &Digest,
        size: u64,
        dir: &Path,
        progress: &Arc<dyn BlobProgress>,
    ) -> Result<tempfile::TempPath> {
        let url = self.url(&format!("blobs/{digest}"));
        let call = Call::new(Method::GET, url.clone(), self.pull_scope()).bulk();
        self.client.with_retries(&format!("GET blob {digest}"), || {
            let response = self.send_expect(&call, &[200])?;
            // A registry that announces another size is answering for another blob (or
            // attacking); refuse before reading a byte.
            if let Some(announced) = header(&response, "Content-Length")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|announced| *announced != size)
            {
                return Err(Error::AnnouncedSize {
                    what: "blob",
                    digest: digest.to_string(),
                    announced,
                    expected: size,
                });
            }
            let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
            progress.reset();
            // One byte past the descriptor's size is enough to know the body is too long.
            let mut reader = response
                .into_body()
                .into_reader()
                .take(size.saturating_add(1));
            let (actual, received) = copy_hashing(
                &mut reader,
                file.as_file_mut(),
                digest.algorithm(),
                &mut |n| progress.advance(n),
            )
            .map_err(|e| match timeout_inside(&e) {
                Some(phase) => self
                    .client
                    .network_error("GET", &url, ureq::Error::Timeout(phase)),
                None => Error::Transport {
                    method: "GET",
                    url: url.clone(),
                    source: Box::new(ureq::Error::Io(e)),
                },
            })?;
            if received > size {
                return Err(Error::Oversized {
                    what: "blob",
                    digest: digest.to_string(),
                    limit: size,
                });
            }
            if received != size {
                return Err(Error::SizeMismatch {
                    what: "blob",
                    digest: digest.to_string(),
                    expected: size,
                    actual: received,
                });
            }
            if &actual != digest {
                return Err(Error::DigestMismatch {
                    what: "blob",
                    digest: digest.to_string(),
                    actual: actual.to_string(),
                });
            }
            Ok(file.into_temp_path())
        })
    }

    /// Every tag in the repository (following `Link` pagination).
    pub fn list_tags(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut next = Some(self.url("tags/list?n=1000"));
        while let Some(url) = next.take() {
            let call = Call::new(Method::GET, url.clone(), self.pull_scope());
            let (bytes, link) = self.client.with_retries(&format!("GET {url}"), || {
                let response = self.send_expect(&call, &[200, 404])?;
                if response.status().as_u16() == 404 {
                    return Ok((b"{}".to_vec(), None));
                }
                let link = header(&response, "Link");
                Ok((
                    self.client
                        .read_limited(response, "GET", &url, MAX_MANIFEST_BYTES)?,
                    link,
                ))
            })?;
            let page: TagList = serde_json::from_slice(&bytes).map_err(|e| Error::Status {
                method: "GET",
                url: url.clone(),
                status: 200,
                detail: format!("not a tag list: {e}"),
            })?;
            tags.extend(page.tags.unwrap_or_default());
            next = link
                .as_deref()
                .and_then(next_link)
                .map(|target| self.resolve_location(&target));
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }
}

fn challenge_of(response: &Response) -> Option<Challenge> {
    parse_challenges(
        response
            .headers()
            .get_all("WWW-Authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `<url>; rel="next"` from a Link header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes).ok()?.media_type
}

fn basic_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn read_capped(response: Response, limit: u64) -> std::result::Result<Vec<u8>, ureq::Error> {
    response
        .into_body()
        .into_with_config()
        .limit(limit)
        .read_to_vec()
}

/// A status error carrying the registry's own explanation (`{"errors":[{code,message}]}`).
fn status_error(response: Response, method: &'static str, url: &str) -> Error {
    let status = response.status().as_u16();
    let _ = (method, url);
    let body = read_capped(response, 64 * 1024).unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let detail = match serde_json::from_slice::<Errors>(&body) {
        Ok(errors) => errors
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(&body)
            .trim()
            .chars()
            .take(300)
            .collect(),
    };
    Error::Status {
        method,
        url: url.to_string(),
        status,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_pagination() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            encode_query(&[("scope", "repository:a/b:pull,push")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
