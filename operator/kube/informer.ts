import * as k8s from '@kubernetes/client-node';

import { createLogger, type Logger } from '../log.js';
import { isGone, kubeRequest } from './request.js';
import { collectionPath, objectKey, type KubernetesObject, type ResourceType } from './resources.js';

export { objectKey };

/**
 * One resource to cache: a type ({ group: '' } for the core API), optionally narrowed to a namespace
 * and by selectors; or a collection path such as /api/v1/namespaces/x/pods.
 */
export type InformerSource = ((ResourceType & { namespace?: string }) | { path: string }) & {
  labelSelector?: string;
  fieldSelector?: string;
};

export type InformerEventType = 'add' | 'update' | 'delete';
/** `old` is the previous state on update. On delete, `obj` is the last state known. */
export type InformerHandler<T> = (type: InformerEventType, obj: T, old?: T) => void;

export interface InformerOptions<T = never> {
  logger?: Logger;
  /** The server ends each watch after this long; default a random 5 to 10 min, as client-go does. */
  watchTimeoutSeconds?: number;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /**
   * The value objects are indexed by (undefined: not indexed), so that `indexed(value)` costs the
   * objects it returns rather than every object cached (what client-go's Indexers are for).
   */
  indexBy?: (obj: T) => string | undefined;
}

interface ListPage<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** The watch's starting point is gone from the server's history (HTTP 410): list again. */
class Expired extends Error {}

const MAX_BACKOFF_MS = 30_000;

/**
 * A cache of one resource kept by list + watch, keyed "namespace/name" ("name" when cluster-scoped).
 *
 * Written on k8s.Watch rather than client-node's ListWatch, which stops for good on any error other
 * than 410 (a connection reset ends it: the caller must notice and restart), gives update handlers no
 * old object, and neither backs off nor re-lists on its own. Here the loop never ends until stop():
 * a watch that ends or fails resumes from the last resourceVersion seen (with backoff on failures);
 * when that version has expired the resource is listed again and the difference against the cache
 * is emitted, so every change arrives exactly once as an add, update or delete. Resource versions
 * are compared for equality only: they are opaque.
 *
 * The cache keeps no managedFields (what controller-runtime's TransformStripManagedFields does):
 * nothing reads them from a cache, every server-side apply names its field manager itself, and they
 * are a large part of each object's bytes, times every object cached.
 */
export class Informer<T extends KubernetesObject> {
  private cache = new Map<string, T>();
  /** indexBy's value -> key -> object. */
  private readonly index = new Map<string, Map<string, T>>();
  private readonly handlers = new Set<InformerHandler<T>>();
  private readonly path: string;
  private readonly name: string;
  private readonly log: Logger;
  private readonly watcher: k8s.Watch;
  private resourceVersion: string | undefined;
  private synced = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private syncWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private abortWatch: (() => void) | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly source: InformerSource,
    private readonly options: InformerOptions<T> = {},
  ) {
    this.path = 'path' in source ? source.path : collectionPath(source);
    this.name = 'path' in source ? source.path : source.plural;
    this.log = options.logger ?? createLogger('informer', { resource: this.name });
    this.watcher = new k8s.Watch(kc);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** The objects whose indexBy value is `value`. */
  indexed(value: string): T[] {
    return [...(this.index.get(value)?.values() ?? [])];
  }

  /** Handlers run synchronously, after the cache has changed; returns a function that unsubscribes. */
  onEvent(handler: InformerHandler<T>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Starts listing and watching; resolves once the cache holds a full list. Rejects if stopped first. */
  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error(`informer for ${this.name} is stopped`));
    this.loop ??= this.run();
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abortWatch?.();
    this.wakeUp?.();
    for (const waiter of this.syncWaiters.splice(0)) {
      waiter.reject(new Error(`informer for ${this.name} stopped before it synced`));
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    let justListed = false;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) {
          await this.relist();
          justListed = true;
          this.synced = true;
          for (const waiter of this.syncWaiters.splice(0)) waiter.resolve();
          if (this.stopped) break;
        }
        const progressed = await this.watch(this.resourceVersion!);
        // A watch that ends at once with nothing to say would otherwise spin.
        failures = progressed ? 0 : failures + 1;
        justListed &&= !progressed;
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof Expired) {
          this.log.info('resource version expired; listing again', { resourceVersion: this.resourceVersion });
          this.resourceVersion = undefined;
          // Expired right after a list is not normal; back off rather than list in a loop.
          if (!justListed) continue;
        }
        failures++;
        justListed = false;
        this.log.warn('list/watch failed; retrying', { error: describe(error), failures });
      }
      if (failures > 0) await this.pause(Math.min(250 * 2 ** (failures - 1), MAX_BACKOFF_MS));
    }
  }

  /** Lists everything (page by page), replaces the cache and emits the difference. */
  private async relist(): Promise<void> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      let page: ListPage<T>;
      try {
        page = await kubeRequest<ListPage<T>>(this.kc, {
          method: 'GET',
          path: this.path,
          query: {
            labelSelector: this.source.labelSelector,
            fieldSelector: this.source.fieldSelector,
            limit: this.options.pageSize ?? 500,
            continue: continueToken,
          },
        });
      } catch (error) {
        if (isGone(error)) throw new Expired(); // the continue token expired
        throw error;
      }
      // List items carry no apiVersion/kind; watch events do. Make the cache uniform.
      const kind = page.kind?.replace(/List$/, '');
      for (const item of page.items) items.push(withoutManagedFields({ apiVersion: page.apiVersion, kind, ...item }));
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? '';
    } while (continueToken);

    const previous = this.cache;
    const next = new Map(items.map((item) => [objectKey(item), item]));
    this.cache = next;
    this.index.clear();
    for (const [key, obj] of next) this.indexAdd(key, obj);
    this.resourceVersion = resourceVersion;
    for (const [key, old] of previous) {
      if (!next.has(key)) this.emit('delete', old);
    }
    for (const [key, obj] of next) {
      const old = previous.get(key);
      if (!old) this.emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
    }
  }

  /**
   * Watches from `resourceVersion` until the watch ends; resolves whether it made progress (delivered
   * an event or lasted a while), rejects with Expired on 410 and with the error on failures.
   */
  private watch(resourceVersion: string): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const startedAt = Date.now();
      let events = 0;
      let failure: Error | undefined;
      let finished = false;
      const onEvent = (phase: string, obj: T & Partial<k8s.V1Status>) => {
        if (finished) return;
        if (phase === 'ERROR') {
          failure = obj.code === 410 ? new Expired() : new Error(`watch error: ${obj.message ?? JSON.stringify(obj)}`);
          return;
        }
        events++;
        if (phase === 'ADDED' || phase === 'MODIFIED') this.upsert(withoutManagedFields(obj));
        else if (phase === 'DELETED') this.remove(withoutManagedFields(obj));
        // BOOKMARK: only the resourceVersion moves.
        const version = obj.metadata?.resourceVersion;
        if (version) this.resourceVersion = version;
      };
      const onDone = (error: (Error & { statusCode?: number }) | null) => {
        if (finished) return;
        finished = true;
        this.abortWatch = undefined;
        if (this.stopped) return resolve(true);
        if (failure) return reject(failure);
        if (error?.statusCode === 410) return reject(new Expired());
        // TimeoutError: client-node's inactivity timeout; resuming right away is what it expects.
        if (error && error.name !== 'TimeoutError') return reject(error);
        resolve(events > 0 || Date.now() - startedAt > 1_000);
      };
      const timeoutSeconds = this.options.watchTimeoutSeconds ?? Math.floor(300 * (1 + Math.random()));
      this.watcher
        .watch(
          this.path,
          {
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.source.labelSelector,
            fieldSelector: this.source.fieldSelector,
          },
          onEvent,
          onDone,
        )
        .then(
          (controller) => {
            if (finished) return;
            if (this.stopped) controller.abort();
            else this.abortWatch = () => controller.abort();
          },
          (error: unknown) => {
            finished = true;
            reject(error);
          },
        );
    });
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (old) this.indexRemove(key, old);
    this.indexAdd(key, obj);
    if (!old) this.emit('add', obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
  }

  private remove(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    this.indexRemove(key, old);
    this.emit('delete', obj);
  }

  private indexAdd(key: string, obj: T): void {
    const value = this.options.indexBy?.(obj);
    if (value === undefined) return;
    const entries = this.index.get(value) ?? this.index.set(value, new Map()).get(value)!;
    entries.set(key, obj);
  }

  private indexRemove(key: string, obj: T): void {
    const value = this.options.indexBy?.(obj);
    if (value === undefined) return;
    const entries = this.index.get(value);
    entries?.delete(key);
    if (entries?.size === 0) this.index.delete(value);
  }

  private emit(type: InformerEventType, obj: T, old?: T): void {
    for (const handler of this.handlers) {
      try {
        handler(type, obj, old);
      } catch (error) {
        this.log.error('event handler threw', { type, key: objectKey(obj), error: describe(error) });
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}

function withoutManagedFields<T extends KubernetesObject>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const metadata = { ...obj.metadata };
  delete metadata.managedFields;
  return { ...obj, metadata };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
