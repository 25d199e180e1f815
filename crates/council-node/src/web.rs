//! The members' web page, embedded in the binary and served on the member address.
//!
//! Plain HTML, CSS and JavaScript (`crates/council-node/web/`), no build step and no
//! request to anything but the node. The page signs members' records in the browser
//! with tweetnacl-js (vendored, see `web/vendor/README.md`); the key never leaves it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../web/index.html");
const APP: &str = include_str!("../web/app.js");
const STYLE: &str = include_str!("../web/style.css");
const NACL: &str = include_str!("../web/vendor/nacl.min.js");

/// The page may load and call nothing but its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Every file of the page, with its path and content type.
pub const FILES: [(&str, &str, &str); 4] = [
    ("/", "text/html; charset=utf-8", INDEX),
    ("/app.js", "text/javascript; charset=utf-8", APP),
    ("/style.css", "text/css; charset=utf-8", STYLE),
    ("/vendor/nacl.min.js", "text/javascript; charset=utf-8", NACL),
];

/// The page's size in bytes, all files together.
pub fn page_bytes() -> usize {
    FILES.iter().map(|(_, _, body)| body.len()).sum()
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub(crate) async fn index() -> Response {
    file(FILES[0].1, FILES[0].2)
}
pub(crate) async fn app() -> Response {
    file(FILES[1].1, FILES[1].2)
}
pub(crate) async fn style() -> Response {
    file(FILES[2].1, FILES[2].2)
}
pub(crate) async fn nacl() -> Response {
    file(FILES[3].1, FILES[3].2)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn the_vendored_library_is_the_published_one() {
        // tweetnacl-js 1.0.3, nacl.min.js, as `npm pack tweetnacl@1.0.3` gives it.
        let sum = hex::encode(Sha256::digest(super::NACL.as_bytes()));
        assert_eq!(sum, "973cc5733cc7432e30ee4682098f413094f494bccf76a567c23908c5035ddbbc");
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for (path, _, body) in super::FILES.iter().take(3) {
            for bad in ["http://", "https://", "//cdn", "@import"] {
                assert!(!body.contains(bad), "{path} refers to {bad}");
            }
        }
    }
}
