// The requests a Berth instance is serving, as its background work sees them: work that can wait
// (webhook deliveries) starts while none is in flight, or once it has waited long enough, so the
// CPU it takes comes between bursts of pushes rather than inside them. app.ts counts the requests
// on the HTTP server (services/ may not import http/).
export interface Foreground {
  /** Whether a request is in flight now. */
  busy(): boolean;
}

/** A count of requests in flight: each request enters once, and leaves when its response closes. */
export class RequestsInFlight implements Foreground {
  private count = 0;

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count = Math.max(0, this.count - 1);
  }

  busy(): boolean {
    return this.count > 0;
  }
}
