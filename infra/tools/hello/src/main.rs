//! The baseline of the cold-start benchmark: the smallest `lambda_http` function,
//! built with the same profile and the same `lambda_http`/`tokio` features as the
//! real functions, so their difference is what the vault adds.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: Request| async {
        let response = Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::from("hello"))?;
        Ok::<_, Error>(response)
    }))
    .await
}
