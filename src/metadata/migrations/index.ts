// Forward-only migrations, in order. A migration never changes once released: add a new one.
import type { Migration } from "kysely/migration";
import { initial } from "./001-initial.ts";
import { charts } from "./002-charts.ts";
import { identities } from "./003-identities.ts";
import { provenance } from "./004-provenance.ts";
import { repositorySettings } from "./005-repository-settings.ts";
import { chartPublication } from "./006-chart-publication.ts";
import { changes } from "./007-changes.ts";
import { uploadParts } from "./008-upload-parts.ts";
import { locks } from "./009-locks.ts";
import { portalReadModels } from "./010-portal-read-models.ts";
import { sessions } from "./011-sessions.ts";
import { searchTrigrams } from "./012-search-trigrams.ts";
import { signInFailures } from "./013-sign-in-failures.ts";
import { jobs } from "./015-jobs.ts";
import { uploadHashState } from "./016-upload-hash-state.ts";
import { eventsWebhooks } from "./017-events-webhooks.ts";
import { tagRules } from "./018-tag-rules.ts";
import { retention } from "./019-retention.ts";
import { quotas } from "./020-quotas.ts";
import { softDelete } from "./021-soft-delete.ts";
import { trashBodies } from "./022-trash-bodies.ts";
import { eventFilters } from "./025-event-filters.ts";
import { summaryKindSorts } from "./028-summary-kind-sorts.ts";
import { signatureVerdicts } from "./030-signature-verdicts.ts";
import { summaryCounts } from "./031-summary-counts.ts";
import { blobObjectKeys } from "./032-blob-object-keys.ts";
import { deliveryAttempts } from "./033-delivery-attempts.ts";

export const migrations: Record<string, Migration> = {
  "001-initial": initial,
  "002-charts": charts,
  "003-identities": identities,
  "004-provenance": provenance,
  "005-repository-settings": repositorySettings,
  "006-chart-publication": chartPublication,
  "007-changes": changes,
  "008-upload-parts": uploadParts,
  "009-locks": locks,
  "010-portal-read-models": portalReadModels,
  "011-sessions": sessions,
  "012-search-trigrams": searchTrigrams,
  "013-sign-in-failures": signInFailures,
  "015-jobs": jobs,
  "016-upload-hash-state": uploadHashState,
  "017-events-webhooks": eventsWebhooks,
  "018-tag-rules": tagRules,
  "019-retention": retention,
  "020-quotas": quotas,
  "021-soft-delete": softDelete,
  "022-trash-bodies": trashBodies,
  "025-event-filters": eventFilters,
  "028-summary-kind-sorts": summaryKindSorts,
  "030-signature-verdicts": signatureVerdicts,
  "031-summary-counts": summaryCounts,
  "032-blob-object-keys": blobObjectKeys,
  "033-delivery-attempts": deliveryAttempts,
};
