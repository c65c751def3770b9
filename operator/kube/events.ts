import { hostname } from 'node:os';

import type * as k8s from '@kubernetes/client-node';

import { createLogger, type Logger } from '../log.js';
import { rfc3339 } from './conditions.js';
import { isNotFound, kubeRequest } from './request.js';
import { refOf, type KubernetesObject } from './resources.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** source.component and reportingComponent; default 'flotilla-operator'. */
  component?: string;
  /** reportingInstance and source.host; default the host name (the pod's name in a pod). */
  instance?: string;
  logger?: Logger;
  /** The clock (tests). */
  now?: () => Date;
}

/** A repeat of the same event within this long bumps the existing Event instead of adding one. */
export const EVENT_REPEAT_WINDOW_MS = 10 * 60_000;
/** Events we remember for bumping; the oldest is forgotten first. */
const REMEMBERED_EVENTS = 4096;
/** The API server keeps messages short; so do we. */
const MAX_MESSAGE_LENGTH = 1024;

interface Recorded {
  namespace: string;
  name: string;
  count: number;
  lastSeen: number;
}

/**
 * Writes core/v1 Events about objects, as client-go's recorder does: an event repeated (same
 * object, type, reason and message) within 10 minutes of its last occurrence increments `count` and
 * moves `lastTimestamp` on the existing Event. Recording never throws: an event that cannot be
 * written is logged and dropped, so a reconcile never fails for the sake of its events.
 */
export class EventRecorder {
  private readonly component: string;
  private readonly instance: string;
  private readonly log: Logger;
  private readonly now: () => Date;
  /** Insertion-ordered, so the first entry is the least recently recorded. */
  private readonly recorded = new Map<string, Recorded>();
  /** Writes per event key, chained so a repeat waits for the Event it bumps to exist. */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    private readonly kc: k8s.KubeConfig,
    options: EventRecorderOptions = {},
  ) {
    this.component = options.component ?? 'flotilla-operator';
    this.instance = options.instance ?? hostname();
    this.log = options.logger ?? createLogger('events');
    this.now = options.now ?? (() => new Date());
  }

  /** Records the event; resolves once it is written (or its failure logged). */
  event(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const ref = refOf(obj);
    const text = message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...` : message;
    const key = JSON.stringify([
      ref.apiVersion,
      ref.kind,
      ref.namespace,
      ref.name,
      obj.metadata?.uid,
      type,
      reason,
      text,
    ]);
    const write = (this.writing.get(key) ?? Promise.resolve())
      .then(() => this.write(key, obj, type, reason, text))
      .catch((error: unknown) => {
        this.log.warn('could not record an event', {
          kind: ref.kind,
          namespace: ref.namespace,
          name: ref.name,
          reason,
          error: error instanceof Error ? error.message : String(error),
        });
      })
      .finally(() => {
        if (this.writing.get(key) === write) this.writing.delete(key);
      });
    this.writing.set(key, write);
    return write;
  }

  private async write(
    key: string,
    obj: KubernetesObject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const now = this.now();
    const previous = this.recorded.get(key);
    if (previous && now.getTime() - previous.lastSeen < EVENT_REPEAT_WINDOW_MS) {
      try {
        await kubeRequest(this.kc, {
          method: 'PATCH',
          path: `/api/v1/namespaces/${previous.namespace}/events/${previous.name}`,
          body: { count: previous.count + 1, lastTimestamp: rfc3339(now) },
          contentType: 'application/merge-patch+json',
        });
        this.remember(key, { ...previous, count: previous.count + 1, lastSeen: now.getTime() });
        return;
      } catch (error) {
        if (!isNotFound(error)) throw error;
        // The Event expired (the API server keeps them an hour by default): start a new one.
      }
    }
    const ref = refOf(obj);
    // Events about cluster-scoped objects live in "default", as client-go puts them.
    const namespace = ref.namespace ?? 'default';
    // Named as client-go names them: object name, then the time in nanoseconds (ours: ms + random).
    const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
    const name = `${ref.name}.${nanos.toString(16)}`;
    const timestamp = rfc3339(now);
    await kubeRequest(this.kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/events`,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          name: ref.name,
          namespace: ref.namespace,
          uid: obj.metadata?.uid,
          resourceVersion: obj.metadata?.resourceVersion,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        source: { component: this.component, host: this.instance },
        reportingComponent: this.component,
        reportingInstance: this.instance,
      },
    });
    this.remember(key, { namespace, name, count: 1, lastSeen: now.getTime() });
  }

  private remember(key: string, recorded: Recorded): void {
    this.recorded.delete(key);
    this.recorded.set(key, recorded);
    if (this.recorded.size > REMEMBERED_EVENTS) {
      const oldest = this.recorded.keys().next();
      if (!oldest.done) this.recorded.delete(oldest.value);
    }
  }
}
