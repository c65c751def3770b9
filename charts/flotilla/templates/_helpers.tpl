{{/* Names, labels, the image and the gateway's advertised addresses. */}}

{{- define "flotilla.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flotilla.fullname" -}}
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

{{- define "flotilla.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "flotilla.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flotilla
{{- end -}}

{{/* The operator pods' selector: never changes across upgrades (a Deployment's selector is immutable). */}}
{{- define "flotilla.operatorSelector" -}}
app.kubernetes.io/name: {{ include "flotilla.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* What the operator puts on the aggregator pods it makes (operator/hub/manifests/names.ts). */}}
{{- define "flotilla.aggregatorSelector" -}}
app.kubernetes.io/managed-by: flotilla-operator
app.kubernetes.io/component: aggregator
{{- end -}}

{{- define "flotilla.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-operator" (include "flotilla.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flotilla.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "flotilla.gatewayService" -}}
{{- printf "%s-gateway" (include "flotilla.fullname" .) -}}
{{- end -}}

{{/* Behind an Ingress or a TLSRoute both ports are reached on 443, told apart by SNI. */}}
{{- define "flotilla.passthrough" -}}
{{- if or .Values.gateway.ingress.enabled .Values.gateway.tlsRoute.enabled -}}true{{- end -}}
{{- end -}}

{{- define "flotilla.gatewayHost" -}}
{{- default (printf "%s.%s.svc" (include "flotilla.gatewayService" .) .Release.Namespace) .Values.gateway.host -}}
{{- end -}}

{{- define "flotilla.enrollmentHost" -}}
{{- default (include "flotilla.gatewayHost" .) .Values.gateway.enrollmentHost -}}
{{- end -}}

{{/* gateway.advertisedPort, else 443 behind passthrough, the nodePort for NodePort, else the Service port. */}}
{{- define "flotilla.advertisedPort" -}}
{{- $g := .Values.gateway -}}
{{- if not (kindIs "invalid" $g.advertisedPort) -}}{{ $g.advertisedPort }}
{{- else if include "flotilla.passthrough" . -}}443
{{- else if eq $g.service.type "NodePort" -}}{{ $g.service.nodePort }}
{{- else -}}{{ $g.service.port }}
{{- end -}}
{{- end -}}

{{- define "flotilla.advertisedEnrollmentPort" -}}
{{- $g := .Values.gateway -}}
{{- if not (kindIs "invalid" $g.advertisedEnrollmentPort) -}}{{ $g.advertisedEnrollmentPort }}
{{- else if include "flotilla.passthrough" . -}}443
{{- else if eq $g.service.type "NodePort" -}}{{ $g.service.enrollmentNodePort }}
{{- else -}}{{ $g.service.enrollmentPort }}
{{- end -}}
{{- end -}}

{{/* host:port, with brackets around an IPv6 address. */}}
{{- define "flotilla.hostPort" -}}
{{- $host := index . 0 -}}
{{- if contains ":" $host -}}[{{ $host }}]:{{ index . 1 }}{{- else -}}{{ $host }}:{{ index . 1 }}{{- end -}}
{{- end -}}

{{- define "flotilla.gatewayAddress" -}}
{{- include "flotilla.hostPort" (list (include "flotilla.gatewayHost" .) (include "flotilla.advertisedPort" .)) -}}
{{- end -}}

{{- define "flotilla.enrollmentAddress" -}}
{{- include "flotilla.hostPort" (list (include "flotilla.enrollmentHost" .) (include "flotilla.advertisedEnrollmentPort" .)) -}}
{{- end -}}

{{/*
Rules across values, which the schema cannot say with a useful message. Rendered by every
template that depends on them, so `helm template` and `helm install` both stop here.
*/}}
{{- define "flotilla.validate" -}}
{{- $v := .Values -}}
{{- if and (gt (int $v.operator.replicas) 1) (not $v.operator.leaderElection.enabled) -}}
{{- fail "operator.replicas above 1 needs operator.leaderElection.enabled: without a Lease every replica would reconcile and serve the gateway at once" -}}
{{- end -}}
{{- if and (eq $v.gateway.service.type "NodePort") (kindIs "invalid" $v.gateway.advertisedPort) (kindIs "invalid" $v.gateway.service.nodePort) -}}
{{- fail "gateway.service.type NodePort needs gateway.service.nodePort (or gateway.advertisedPort): the join bundles must name the port the agents dial" -}}
{{- end -}}
{{- if and (eq $v.gateway.service.type "NodePort") (kindIs "invalid" $v.gateway.advertisedEnrollmentPort) (kindIs "invalid" $v.gateway.service.enrollmentNodePort) -}}
{{- fail "gateway.service.type NodePort needs gateway.service.enrollmentNodePort (or gateway.advertisedEnrollmentPort): the join bundles must name the port the agents dial" -}}
{{- end -}}
{{- if include "flotilla.passthrough" . -}}
{{- if ne $v.gateway.service.type "ClusterIP" -}}
{{- fail "gateway.ingress / gateway.tlsRoute need gateway.service.type ClusterIP: the Ingress or Gateway is the way in" -}}
{{- end -}}
{{- if or (not $v.gateway.host) (not $v.gateway.enrollmentHost) (eq $v.gateway.host $v.gateway.enrollmentHost) -}}
{{- fail "gateway.ingress / gateway.tlsRoute need gateway.host and gateway.enrollmentHost, two different names: both ports share 443 and SNI tells them apart" -}}
{{- end -}}
{{- end -}}
{{- if and $v.gateway.tlsRoute.enabled (not $v.gateway.tlsRoute.parentRefs) -}}
{{- fail "gateway.tlsRoute.enabled needs gateway.tlsRoute.parentRefs: the Gateway listener (TLS, mode Passthrough) the routes attach to" -}}
{{- end -}}
{{- if and $v.podDisruptionBudget.enabled (lt (int $v.operator.replicas) 2) -}}
{{- fail "podDisruptionBudget.enabled needs operator.replicas of 2 or more: with one replica it could only block node drains" -}}
{{- end -}}
{{- end -}}

{{/* The metadata the chart adds to each CRD file, after its "metadata:" line. */}}
{{- define "flotilla.crdMetadata" -}}
{{ "\n" }}metadata:
  labels:
    {{- include "flotilla.labels" . | nindent 4 }}
  {{- if .Values.crds.keep }}
  annotations:
    # Uninstalling must not take every FederatedJob and Site with it.
    helm.sh/resource-policy: keep
  {{- end }}
{{ "" }}
{{- end -}}
