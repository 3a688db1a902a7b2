//! The product's answer to a request, with a bounded body.

use core::fmt;

use super::error::ClientError;
use super::request::transport_error;

/// A response with a status below 400 (a 3xx is returned as it is: redirects are not
/// followed). Its body is read whole, at most the client's maximum response length.
pub struct Response {
    inner: reqwest::Response,
    max_len: usize,
}

impl Response {
    pub(super) fn new(inner: reqwest::Response, max_len: usize) -> Self {
        Self { inner, max_len }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.inner.status().as_u16()
    }

    /// The first value of header `name` (any case), if it is visible ASCII.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name)?.to_str().ok()
    }

    /// The `Content-Length` the product announced.
    #[must_use]
    pub fn content_length(&self) -> Option<u64> {
        self.inner.content_length()
    }

    /// The body.
    ///
    /// # Errors
    ///
    /// [`ClientError::ResponseTooLarge`] past the client's maximum response length;
    /// [`ClientError::Timeout`] or [`ClientError::Transport`] if reading fails.
    pub async fn bytes(mut self) -> Result<Vec<u8>, ClientError> {
        let max = self.max_len;
        let too_large = ClientError::ResponseTooLarge { max };
        if self.content_length().is_some_and(|len| len > max as u64) {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = self.inner.chunk().await.map_err(|e| transport_error(&e))? {
            if chunk.len() > max - body.len() {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`ClientError::InvalidResponseBody`] if it is not UTF-8.
    pub async fn text(self) -> Result<String, ClientError> {
        String::from_utf8(self.bytes().await?).map_err(|_| ClientError::InvalidResponseBody)
    }

    /// The body as JSON of type `T`.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`ClientError::InvalidResponseBody`] if it is not JSON
    /// of that shape.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.bytes().await?).map_err(|_| ClientError::InvalidResponseBody)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status())
            .field("content_length", &self.content_length())
            .finish_non_exhaustive()
    }
}
