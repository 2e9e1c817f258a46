// The part of autocannon 8's API the benchmark uses (the package ships no types).
declare module "autocannon" {
  interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
  }
  interface Options {
    url: string;
    method?: "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH";
    headers?: Record<string, string>;
    connections?: number;
    duration?: number;
    timeout?: number;
    pipelining?: number;
    workers?: number;
    /** Called with each connection's client before it installs its parser callbacks. */
    setupClient?: (client: { parser: object }) => void;
  }
  interface Result {
    requests: Histogram;
    latency: Histogram;
    throughput: Histogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    "2xx": number;
    statusCodeStats: Record<string, { count: number }>;
  }
  interface Instance extends Promise<Result> {
    stop(): void;
  }
  function autocannon(options: Options): Instance;
  export default autocannon;
}
