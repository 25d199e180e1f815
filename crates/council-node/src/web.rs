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
const SHA256: &str = include_str!("../web/vendor/sha256.min.js");
const QRCODE: &str = include_str!("../web/vendor/qrcode.js");

/// The page may load and call nothing but its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Every file of the page, with its path and content type. The last two are loaded only
/// when a member makes an invite.
pub const FILES: [(&str, &str, &str); 6] = [
    ("/", "text/html; charset=utf-8", INDEX),
    ("/app.js", "text/javascript; charset=utf-8", APP),
    ("/style.css", "text/css; charset=utf-8", STYLE),
    ("/vendor/nacl.min.js", "text/javascript; charset=utf-8", NACL),
    ("/vendor/sha256.min.js", "text/javascript; charset=utf-8", SHA256),
    ("/vendor/qrcode.js", "text/javascript; charset=utf-8", QRCODE),
];

/// The page's size in bytes as a member's browser first loads it (the invite's files
/// come only with an invite).
pub fn page_bytes() -> usize {
    FILES.iter().take(4).map(|(_, _, body)| body.len()).sum()
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
pub(crate) async fn sha256() -> Response {
    file(FILES[4].1, FILES[4].2)
}
pub(crate) async fn qrcode() -> Response {
    file(FILES[5].1, FILES[5].2)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn the_vendored_libraries_are_the_published_ones() {
        // As `npm pack` gives them (web/vendor/README.md): tweetnacl 1.0.3's nacl.min.js,
        // js-sha256 0.11.0's build/sha256.min.js, qrcode-generator 1.4.4's qrcode.js.
        for (file, sum) in [
            (super::NACL, "973cc5733cc7432e30ee4682098f413094f494bccf76a567c23908c5035ddbbc"),
            (super::SHA256, "5e623445991d81ba5fb0abf201d7a6d45c9010c1f2e11377fefa8e8054572953"),
            (super::QRCODE, "18ae399f81182bc9de916e9c77b195df20cc58d6f2d55a62b085a299f1bf1780"),
        ] {
            assert_eq!(hex::encode(Sha256::digest(file.as_bytes())), sum);
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for (path, _, body) in super::FILES.iter().take(3) {
            // SVG's namespace name (the invite's QR code) is a name, never fetched.
            let body = body.replace("\"http://www.w3.org/2000/svg\"", "");
            for bad in ["http://", "https://", "//cdn", "@import"] {
                assert!(!body.contains(bad), "{path} refers to {bad}");
            }
        }
    }
}
