{{/* Names, labels, the image, the join bundle. */}}

{{- define "site.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "site.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "site.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "site.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flotilla
{{- end -}}

{{- define "site.agentSelector" -}}
app.kubernetes.io/name: {{ include "site.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: site-agent
{{- end -}}

{{/* What the agent puts on the client pods it makes (operator/site/client-objects.ts). */}}
{{- define "site.clientSelector" -}}
app.kubernetes.io/managed-by: flotilla-site-agent
app.kubernetes.io/component: client
{{- end -}}

{{- define "site.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "site.serviceAccountName" -}}
{{- printf "%s-agent" (include "site.fullname" .) -}}
{{- end -}}

{{/* join.bundle or join.token: the chart's own Secret; else the existing one. */}}
{{- define "site.ownJoinSecret" -}}
{{- if or .Values.join.bundle .Values.join.token -}}true{{- end -}}
{{- end -}}

{{- define "site.joinSecret" -}}
{{- if include "site.ownJoinSecret" . -}}
{{- printf "%s-join" (include "site.fullname" .) -}}
{{- else -}}
{{- required "join.existingSecret, join.bundle or join.token is required: the join bundle from the hub" .Values.join.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "site.joinSecretKey" -}}
{{- if include "site.ownJoinSecret" . -}}bundle{{- else -}}{{ .Values.join.existingSecretKey }}{{- end -}}
{{- end -}}

{{- define "site.stateClaim" -}}
{{- default (printf "%s-agent-state" (include "site.fullname" .)) .Values.agent.state.existingClaim -}}
{{- end -}}

{{/* The bundle as the agent reads it (operator/hub/join-tokens.ts): base64 of the JSON. */}}
{{- define "site.bundle" -}}
{{- if .Values.join.bundle -}}
{{- .Values.join.bundle | trim -}}
{{- else -}}
{{- $b := dict "hub" .Values.hub.address "enrollment" .Values.hub.enrollmentAddress "site" .Values.join.site "token" .Values.join.token "caPem" .Values.hub.caPem -}}
{{- toJson $b | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Rules across values, which the schema cannot say with a useful message. */}}
{{- define "site.validate" -}}
{{- $j := .Values.join -}}
{{- if and $j.bundle $j.token -}}
{{- fail "give join.bundle or join.token, not both: the bundle already holds a token" -}}
{{- end -}}
{{- if $j.token -}}
{{- range $key, $value := dict "join.site" $j.site "hub.address" .Values.hub.address "hub.enrollmentAddress" .Values.hub.enrollmentAddress "hub.caPem" .Values.hub.caPem -}}
{{- if not $value -}}
{{- fail (printf "join.token needs %s too: the agent must know which hub to dial and which CA to trust" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $j.bundle -}}
{{- $decoded := $j.bundle | trim | b64dec -}}
{{- if not (hasPrefix "{" $decoded) -}}
{{- fail "join.bundle is not a join bundle (base64 of JSON): copy it again, whole, from the hub" -}}
{{- end -}}
{{- end -}}
{{- if eq .Values.data.source "hostPath" -}}
{{- if or (not .Values.data.hostPath.path) (not .Values.data.hostPath.nodeName) -}}
{{- fail "data.source hostPath needs data.hostPath.path and data.hostPath.nodeName: the folder with the records and the node that has it" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A NetworkPolicy egress rule to ports, and CIDRs when some are given. */}}
{{- define "site.egressRule" -}}
- ports:
    {{- range .ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
  {{- with .cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end -}}

{{/* Egress to the cluster's DNS server. */}}
{{- define "site.dnsRule" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  to:
    - namespaceSelector:
        matchLabels:
          {{- toYaml .namespaceLabels | nindent 10 }}
      podSelector:
        matchLabels:
          {{- toYaml .podLabels | nindent 10 }}
{{- end -}}
