// Reads Berth's JSON access log (the `request` lines a started server prints) back as records,
// so a test can assert which requests reached the server.
export interface AccessLine {
  method?: string;
  path?: string;
  status?: number;
}

export function accessLines(output: string): AccessLine[] {
  return output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l) as AccessLine;
      } catch {
        return {};
      }
    })
    .filter((l) => l.method !== undefined && l.path !== undefined);
}
