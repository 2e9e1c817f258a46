{{- define "berth.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.labels" -}}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* One place that refuses settings several replicas cannot share. */}}
{{- define "berth.validate" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if ne .Values.metadata.driver "postgres" -}}
{{- fail "replicaCount > 1 needs metadata.driver=postgres: SQLite lives in one pod's volume" -}}
{{- end -}}
{{- if eq .Values.storage.driver "filesystem" -}}
{{- fail "replicaCount > 1 needs storage.driver=s3 or azure: the filesystem driver lives in one pod's volume" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.metadata.driver "postgres") (not .Values.metadata.postgres.existingSecret) -}}
{{- fail "metadata.driver=postgres needs metadata.postgres.existingSecret (a Secret holding the connection URL)" -}}
{{- end -}}
{{- if and (eq .Values.storage.driver "s3") (not .Values.storage.s3.bucket) -}}
{{- fail "storage.driver=s3 needs storage.s3.bucket" -}}
{{- end -}}
{{- if and (eq .Values.storage.driver "azure") (or (not .Values.storage.azure.container) (not .Values.storage.azure.existingSecret)) -}}
{{- fail "storage.driver=azure needs storage.azure.container and storage.azure.existingSecret" -}}
{{- end -}}
{{- end -}}
