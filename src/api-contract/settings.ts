// What Berth's configuration sets and the API cannot change (docs/configuration.md): shown to
// owners in the portal's Settings, read-only. Changing them means editing the configuration and
// restarting Berth.
import { z } from "zod";

export const SettingsView = z.strictObject({
  /** auth.anonymousPull: every repository may be pulled without credentials. */
  anonymousPull: z.boolean(),
  /** provenance.pushPolicies: pushes of images lacking these labels or annotations are refused. */
  pushPolicies: z.array(z.strictObject({ name: z.string(), repositories: z.array(z.string()), requireLabels: z.array(z.string()), requireAnnotations: z.array(z.string()) })),
  /** provenance.pullPolicies: manifest pulls of images without a verified notation signature are refused. */
  pullPolicies: z.array(z.strictObject({ name: z.string(), repositories: z.array(z.string()) })),
  /** Whether signatures are verified: provenance.trustPolicy (notation) and provenance.cosignKeys. */
  verification: z.strictObject({ notation: z.boolean(), cosign: z.boolean() }),
  /** Where every value above comes from. */
  source: z.literal("configuration"),
});
export type SettingsView = z.infer<typeof SettingsView>;
