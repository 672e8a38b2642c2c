//! The proxy benchmark's baseline (infra/scripts/proxy-bench.sh): a bare pass-through
//! function served exactly as the proxy is (Lambda response streaming), which sends
//! the request body to `$APIKEYS_OPENAI_BASE_URL/v1/chat/completions` with a fixed
//! key from `PASSTHROUGH_KEY` and streams the answer back chunk by chunk. No token
//! check, no table, no seed, no usage: what the proxy adds is the difference.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_http::{run_with_streaming_response, service_fn, Error, Request, Response};

type Frames = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Error>> + Send>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let base = std::env::var("APIKEYS_OPENAI_BASE_URL")?;
    let url = format!("{}/v1/chat/completions", base.trim_end_matches('/'));
    let key = std::env::var("PASSTHROUGH_KEY")?;
    let client = reqwest::Client::new();
    run_with_streaming_response(service_fn(move |request: Request| {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move {
            let body = Bytes::copy_from_slice(request.body().as_ref());
            let answer = client
                .post(&url)
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            let status = answer.status();
            let content_type = answer.headers().get("content-type").cloned();
            let frames = futures_util::stream::unfold(answer, |mut answer| async move {
                match answer.chunk().await {
                    Ok(Some(chunk)) => Some((Ok(Frame::data(chunk)), answer)),
                    Ok(None) => None,
                    Err(e) => Some((Err(Error::from(e)), answer)),
                }
            });
            let mut response = Response::new(StreamBody::new(Box::pin(frames) as Frames));
            *response.status_mut() = status;
            if let Some(t) = content_type {
                response.headers_mut().insert("content-type", t);
            }
            Ok::<_, Error>(response)
        }
    }))
    .await
}
