/* Generated from crds/flotilla.dev_federatedjobs.yaml by scripts/gen-api-types.mjs. Do not edit: change the CRD and run npm run gen:types. */
/**
 * What to train, where, and how the rounds run.
 */
export interface FederatedJobSpec {
  /**
   * The hospital sites that take part: listed by name, or chosen by a label selector over Site resources. Exactly one of names and selector.
   */
  sites: {
    /**
     * Names of the Site resources that take part.
     *
     * @minItems 1
     * @maxItems 1000
     */
    names?: string[];
    /**
     * A label selector over Site resources.
     */
    selector?: {
      /**
       * Labels a Site must have, each with this value.
       */
      matchLabels?: {
        [k: string]: string;
      };
      /**
       * Requirements on a Site's labels; a Site must meet all of them.
       */
      matchExpressions?: {
        /**
         * The label the requirement is about.
         */
        key: string;
        /**
         * In and NotIn compare the label's value with values; Exists and DoesNotExist ask only whether the Site has the label.
         */
        operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
        /**
         * The values for In and NotIn; empty for Exists and DoesNotExist.
         */
        values?: string[];
      }[];
    };
    /**
     * Per-site settings that differ from the job's defaults.
     *
     * @maxItems 1000
     */
    overrides?: {
      /**
       * The Site this override applies to.
       */
      site: string;
      /**
       * Where a site's training data lives, at the site. Records never leave it: the client pod mounts it read-only. flotilla simulate reads path relative to the manifest's folder.
       */
      data?: {
        /**
         * The data file, relative to the root of the data volume (for example heart.csv).
         */
        path?: string;
        /**
         * The PersistentVolumeClaim, in the site's namespace, that holds the data.
         */
        claimName?: string;
      };
      /**
       * Compute resources (core/v1 ResourceRequirements limits and requests), GPUs included (nvidia.com/gpu).
       */
      resources?: {
        /**
         * The most a container may use, by resource name (cpu, memory, nvidia.com/gpu).
         */
        limits?: {
          [k: string]: number | string;
        };
        /**
         * What the scheduler reserves for a container, by resource name (cpu, memory, nvidia.com/gpu).
         */
        requests?: {
          [k: string]: number | string;
        };
      };
      /**
       * Node labels the site's client pod must run on (the site's policy must allow each).
       */
      nodeSelector?: {
        [k: string]: string;
      };
      /**
       * Tolerations of the site's client pod (core/v1 Toleration; the site's policy must allow each).
       *
       * @maxItems 32
       */
      tolerations?: {
        /**
         * The taint key the toleration matches; empty with operator Exists matches every taint.
         */
        key?: string;
        /**
         * Equal (the taint's value must be value) or Exists (any value).
         */
        operator?: 'Equal' | 'Exists';
        /**
         * The taint value the toleration matches (operator Equal).
         */
        value?: string;
        /**
         * The taint effect to match (NoSchedule, PreferNoSchedule, NoExecute); empty matches all.
         */
        effect?: '' | 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
        /**
         * How long a NoExecute toleration lets the pod stay once the taint appears.
         */
        tolerationSeconds?: number;
      }[];
    }[];
  };
  /**
   * Number of federated rounds.
   */
  rounds: number;
  /**
   * The quorum: the fewest site updates with which a round may close at its deadline. Below it the round is retried, up to maxRoundRetries times, then the job fails.
   */
  minSites: number;
  /**
   * Asynchronous buffered aggregation (FedBuff, Nguyen et al. 2022) instead of synchronous rounds: each site trains on the newest model it was given and sends its update as soon as it is done; the aggregator buffers updates and, once bufferSize are buffered, moves the model by their staleness-weighted mean delta times serverLearningRate, which makes the next version. A slow site holds nobody back; its late update counts with a weight that shrinks with its staleness (versions made since the one it trained on). rounds then counts versions. See docs/async.md.
   */
  asynchronous?: {
    /**
     * K, how many updates make a version. At most the number of sites; fewer than the sites for a slow site not to hold the others back.
     */
    bufferSize: number;
    /**
     * The most versions an update may be behind: one trained on version v arriving at version t with t - v above this is refused (FAILED_PRECONDITION, reason stale_round) and the site is handed the newest model. The aggregator keeps this many older versions to take deltas against.
     */
    maxStaleness: number;
    /**
     * How an update's weight falls with its staleness τ = t - v: Polynomial, 1/(1+τ)^stalenessExponent; Constant, 1.
     */
    staleness: 'Polynomial' | 'Constant';
    /**
     * The exponent a of the Polynomial weight 1/(1+τ)^a (0.5 when unset, as in the paper).
     */
    stalenessExponent?: number;
    /**
     * η_g, the step the server takes along the buffer's weighted mean delta (1 moves the model by the whole of it).
     */
    serverLearningRate: number;
  };
  /**
   * Partial participation: how many of the connected sites are selected each round (seeded draw). Every connected site when unset.
   */
  sitesPerRound?: number;
  /**
   * After the last round, each site also fine-tunes the final global model on its own training data for localEpochs passes and reports the fine-tuned model's test loss and accuracy beside the global model's (docs/non-iid.md). The fine-tuned model stays at the site; the job's model is the global one.
   */
  personalization?: {
    /**
     * Passes over the site's training data when fine-tuning.
     */
    localEpochs: number;
    /**
     * The fine-tuning step size; trainer.learningRate when unset.
     */
    learningRate?: number;
  };
  /**
   * A round closes when every selected site has reported, or at this deadline when at least minSites have.
   */
  roundDeadlineSeconds: number;
  /**
   * A selected site silent for this long is dropped from the round.
   */
  heartbeatTimeoutSeconds: number;
  /**
   * How many times a round that missed its quorum is retried before the job fails.
   */
  maxRoundRetries: number;
  /**
   * Seeds model initialisation, site selection, data splits and shuffling.
   */
  seed: number;
  /**
   * How the aggregator combines site updates into the next global model.
   */
  strategy: {
    /**
     * FedAvg averages updates weighted by sample count. FedProx adds a proximal term mu to each site's local objective (for non-IID data). FedAdam, FedYogi and FedAdagrad apply a server-side optimiser to the averaged update (Reddi et al., 2021). SCAFFOLD (Karimireddy et al., 2020) corrects each site's local steps by control variates, the server's kept by the aggregator and each site's kept at the site (the built-in trainer, or a command trainer that declares trainer.controlVariates).
     */
    name: 'FedAvg' | 'FedProx' | 'FedAdam' | 'FedYogi' | 'FedAdagrad' | 'SCAFFOLD';
    /**
     * Parameters of FedProx (only with name FedProx).
     */
    fedProx?: {
      /**
       * Weight of the proximal term (mu/2)·||w - w_global||².
       */
      mu: number;
    };
    /**
     * Parameters of the server optimisers FedAdam, FedYogi and FedAdagrad (only with those names).
     */
    fedOpt?: {
      /**
       * The server optimiser's step size (eta).
       */
      serverLearningRate: number;
      /**
       * First-moment decay.
       */
      beta1: number;
      /**
       * Second-moment decay (FedAdam, FedYogi).
       */
      beta2: number;
      /**
       * Adaptivity; guards the division by the second moment.
       */
      tau: number;
    };
    /**
     * Parameters of SCAFFOLD (only with name SCAFFOLD; docs/non-iid.md).
     */
    scaffold?: {
      /**
       * The global step size (eta_g): the model moves by serverLearningRate times the mean of the sites' deltas. 1 is the paper's choice for full participation.
       */
      serverLearningRate: number;
    };
    /**
     * Robust aggregation against broken or hostile sites (docs/aggregation.md). rule replaces the weighted mean delta by a robust one, every update weighing the same: Median (coordinate-wise), TrimmedMean (coordinate-wise, trimFraction cut from each end), Krum or MultiKrum (Blanchard et al. 2017: the update(s) closest to their neighbours, with hostileSites assumed hostile). normBound clips each update's delta to that L2 norm before it is folded, with or without a rule. The strategy's server step (FedAdam, ...) then moves the model by the result.
     */
    robust?: {
      /**
       * How a round's updates become one delta; unset, the strategy's weighted mean (with normBound clipping).
       */
      rule?: 'Median' | 'TrimmedMean' | 'Krum' | 'MultiKrum';
      /**
       * TrimmedMean: at each coordinate, floor(trimFraction·n) of the n updates' values are cut from each end and the rest averaged. It withstands that many hostile sites.
       */
      trimFraction?: number;
      /**
       * Krum and MultiKrum, f; the number of hostile sites the rule withstands (it needs minSites > 2f + 2).
       */
      hostileSites?: number;
      /**
       * MultiKrum, m; how many of the best-scored updates are averaged (at most minSites - hostileSites).
       */
      selectedUpdates?: number;
      /**
       * Clips each update's delta (w_site - w_global) to this L2 norm before it is folded.
       */
      normBound?: number;
    };
  };
  /**
   * Client-level differential privacy (DP-FedAvg, McMahan et al. 2018): each site's update delta is clipped to an L2 norm and Gaussian noise is added, by the aggregator to the sum (Central) or by each site before its update leaves it (Local). An RDP accountant reports epsilon for delta after every round; targetEpsilon is a budget that ends the job before a round would exceed it. See docs/privacy.md for what this guarantees and what it does not.
   */
  privacy?: {
    /**
     * Central: sites send clipped-or-not updates, the aggregator clips each and adds the noise to their sum (protects the released models; the aggregator is trusted). Local: each site clips and noises its own update before it leaves (protects against the aggregator too, at N times the noise in the sum). Distributed (needs secureAggregation): each site clips its update and adds its share of the noise, z·C/sqrt(secureAggregation.threshold), so that the sum of the at least threshold updates the aggregator may reveal carries at least the central noise z·C; the aggregator sees only that sum.
     */
    mode: 'Central' | 'Local' | 'Distributed';
    /**
     * z: the noise's standard deviation as a multiple of the clip norm. Without it, the smallest z whose epsilon over the job's rounds stays within targetEpsilon (as flotilla privacy --target-epsilon computes).
     */
    noiseMultiplier?: number;
    /**
     * The budget: the job ends (Succeeded, with the reason in its status) before a round whose epsilon would exceed it, and evaluates the model it has.
     */
    targetEpsilon?: number;
    /**
     * The delta of (epsilon, delta)-DP; below 1/number of sites to mean anything.
     */
    delta: number;
    /**
     * Each site's update delta (its model minus the global model) is scaled to this L2 norm at most.
     */
    clipping: {
      /**
       * The clip norm C (with adaptive, the first round's).
       */
      l2Norm: number;
      /**
       * Andrew et al. 2021: the clip norm follows a quantile of the update norms, C ← C·exp(−learningRate·(b − targetQuantile)), b the noised fraction of updates not clipped. The count's noise is part of noiseMultiplier (the updates get the rest), so the accountant's epsilon covers it.
       */
      adaptive?: {
        /**
         * γ, the share of updates the clip norm should leave unclipped.
         */
        targetQuantile: number;
        /**
         * η, the step of the clip norm's geometric update.
         */
        learningRate: number;
        /**
         * The noise on the count of unclipped updates; the paper's choice is the expected number of sites per round / 20.
         */
        countStddev: number;
      };
    };
    /**
     * Which sites train in a round. Fixed: sitesPerRound (all sites when unset) by the job's seeded draw, and no amplification is claimed. Poisson: each site independently with probability rate, drawn from node:crypto at the aggregator, rounds close with whoever was drawn (no quorum, no redraw), and the accountant claims amplification by sampling.
     */
    sampling: {
      /**
       * Fixed (sitesPerRound by the seeded draw, no amplification claimed) or Poisson (each site with probability rate).
       */
      mode: 'Fixed' | 'Poisson';
      /**
       * The probability q with which each site is drawn into a round (Poisson only).
       */
      rate?: number;
    };
  };
  /**
   * How the model travels, negotiated per job (docs/compression.md): download encodes the global model each site fetches, upload each site's training update, which then carries its delta on the model it received. FP16 halves the bytes, Int8 (one scale per chunk of 262144 values) quarters them, TopK sends the topKFraction largest values of each chunk with their indices and keeps the rest at the site for the next round (error feedback). Statistics, initial models and evaluations are never encoded.
   */
  compression?: {
    /**
     * None, FP16 or Int8.
     */
    download: 'None' | 'FP16' | 'Int8' | 'TopK';
    /**
     * None, FP16, Int8 or TopK (with topKFraction).
     */
    upload: 'None' | 'FP16' | 'Int8' | 'TopK';
    /**
     * TopK uploads, the share of each chunk's values sent (ceil(topKFraction·n), at least 1).
     */
    topKFraction?: number;
  };
  /**
   * Secure aggregation (SecAgg+, Bell et al. 2020): each site masks its update with pairwise masks agreed with its neighbours and a self-mask, so the aggregator learns only the sum of at least threshold sites' updates, never one site's. Each coordinate of an update's delta is clipped to [-clippingRange, clippingRange] and quantized to 32 bits; every update weighs 1 in the mean (the aggregator cannot weigh what it cannot see). Sites that drop during a round are recovered from while at least threshold of their neighbours remain. See docs/privacy.md.
   */
  secureAggregation?: {
    /**
     * t: the shares that recover a site's secrets, and the fewest sites whose sum a round may reveal. A majority of each site's neighbours; more dropouts than neighbours - t around one site fail the round.
     */
    threshold: number;
    /**
     * k: how many other sites each site masks with and shares its secrets among (even; a ring of k/2 on each side, redrawn every round). Every other site of the round when unset (SecAgg).
     */
    neighbours?: number;
    /**
     * Each coordinate of an update's delta (w_site - w_global) is clipped to [-clippingRange, clippingRange] before quantization.
     */
    clippingRange: number;
    /**
     * How long each stage of a round (advertise, share, collect, unmask) waits for sites before those silent are counted dropped.
     */
    stageTimeoutSeconds: number;
  };
  /**
   * What runs at each site: the built-in trainer for tabular data, or a command of your own (any language) that reads and writes models as safetensors files.
   */
  trainer: {
    /**
     * The built-in trainer for tabular data.
     */
    builtin?: {
      /**
       * LogisticRegression (one sigmoid output) or MLP (one hidden ReLU layer per entry of hiddenUnits).
       */
      model: 'LogisticRegression' | 'MLP';
      /**
       * Sizes of the MLP's hidden layers.
       *
       * @maxItems 8
       */
      hiddenUnits?: number[];
      /**
       * How the built-in trainer reads a site's table of records (CSV, one record a row).
       */
      dataset: {
        /**
         * Whether the first row names the columns (it is then skipped).
         */
        header: boolean;
        /**
         * Cell values that mean "missing". A record missing a column in use is dropped.
         */
        missingValues: string[];
        /**
         * The binary label.
         */
        label: {
          /**
           * 0-based index of the label column.
           */
          column: number;
          /**
           * The label is 1 when the column's value is greater than this, else 0.
           */
          positiveAbove: number;
        };
        /**
         * Input features, in order. A categorical column is one-hot encoded over the listed levels.
         *
         * @minItems 1
         * @maxItems 10000
         */
        features: {
          /**
           * Feature name, as written to model.json.
           */
          name: string;
          /**
           * 0-based index of the column.
           */
          column: number;
          /**
           * Levels that get an indicator feature each (name=level); other values encode as all zeros (the dropped first level).
           */
          oneHot?: number[];
        }[];
        /**
         * Share of each site's records held out as its test set (rounded up).
         */
        testFraction: number;
        /**
         * Stratify the split on the label where each class has more than 2 records.
         */
        stratify: boolean;
        /**
         * Federated z-scores every site with the global mean and standard deviation, aggregated from the sites' counts, sums and sums of squares (no record leaves a site); Local uses each site's own training statistics (the published benchmark); None leaves features as they are.
         */
        standardize: 'Federated' | 'Local' | 'None';
      };
    };
    /**
     * Container image of a bring-your-own trainer (ignored by flotilla simulate).
     */
    image?: string;
    /**
     * Bring-your-own trainer (argv, no shell), run at the site for each task with the environment FLOTILLA_TASK (initialize, train or evaluate), FLOTILLA_MODEL_IN (the global model, safetensors; not for initialize), FLOTILLA_MODEL_OUT (where to write the model, safetensors; initialize and train), FLOTILLA_METRICS_OUT (where to write JSON {"num_samples", "loss", "accuracy", ...}), FLOTILLA_ROUND, FLOTILLA_SEED (the job's seed), FLOTILLA_SITE, FLOTILLA_CONFIG (train: JSON of local_epochs, local_steps, batch_size, learning_rate, proximal_mu and the round's shuffle seed) and FLOTILLA_DATA (the site's data file). See examples/byo-python.
     *
     * @minItems 1
     */
    command?: string[];
    /**
     * Declares that the command trainer takes SCAFFOLD's control variates (strategy SCAFFOLD): for train it then gets FLOTILLA_CORRECTION_IN, a safetensors file of c - c_i with the model's tensor names, to add to every local gradient, and writes "local_steps_taken" (the number of local steps K) in its metrics. docs/non-iid.md.
     */
    controlVariates?: boolean;
    /**
     * Passes over the local training data per round. Exclusive with localSteps.
     */
    localEpochs?: number;
    /**
     * Mini-batch steps per round. Exclusive with localEpochs.
     */
    localSteps?: number;
    /**
     * Records per mini-batch of local training.
     */
    batchSize: number;
    /**
     * Step size of each site's local optimiser (SGD).
     */
    learningRate: number;
    /**
     * Longest a bring-your-own trainer may run in one round.
     */
    timeoutSeconds: number;
  };
  /**
   * Where a site's training data lives, at the site. Records never leave it: the client pod mounts it read-only. flotilla simulate reads path relative to the manifest's folder.
   */
  data?: {
    /**
     * The data file, relative to the root of the data volume (for example heart.csv).
     */
    path?: string;
    /**
     * The PersistentVolumeClaim, in the site's namespace, that holds the data.
     */
    claimName?: string;
  };
  /**
   * Settings of the job's aggregator pod.
   */
  aggregator: {
    /**
     * Container image of the aggregator (the operator's own image by default).
     */
    image?: string;
    /**
     * Compute resources (core/v1 ResourceRequirements limits and requests), GPUs included (nvidia.com/gpu).
     */
    resources?: {
      /**
       * The most a container may use, by resource name (cpu, memory, nvidia.com/gpu).
       */
      limits?: {
        [k: string]: number | string;
      };
      /**
       * What the scheduler reserves for a container, by resource name (cpu, memory, nvidia.com/gpu).
       */
      requests?: {
        [k: string]: number | string;
      };
    };
    /**
     * Refuse updates larger than this (defaults to the model's size).
     */
    maxUpdateBytes?: number;
  };
  /**
   * Where the aggregator keeps its checkpoints (written atomically after every round).
   */
  checkpoint: {
    /**
     * Size of the checkpoint claim (a quantity of bytes, such as 1Gi). It may grow while the job runs, where the storage class allows expansion, but not shrink.
     */
    storageSize: string;
    /**
     * Storage class of the checkpoint claim (the cluster's default class when unset). Fixed once the job exists.
     */
    storageClassName?: string;
  };
  /**
   * What happens when the job ends.
   */
  completion: {
    /**
     * Delete removes the aggregator and client pods when the job ends; Keep leaves them.
     */
    cleanupPolicy: 'Delete' | 'Keep';
    /**
     * Where the final model is written (a path on the checkpoint volume by default).
     */
    modelDestination?: string;
  };
}

/**
 * Observed state, written by the operator.
 */
export interface FederatedJobStatus {
  /**
   * The metadata.generation of the spec this status was computed from.
   */
  observedGeneration?: number;
  /**
   * Pending until the aggregator is up, Running while rounds run, then Succeeded or Failed (the conditions say why).
   */
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  /**
   * Round of the total, for display (7/20).
   */
  progress?: string;
  /**
   * The last round that closed.
   */
  round?: number;
  /**
   * Sites whose client is running, of the sites selected (3/4).
   */
  sitesReady?: string;
  /**
   * When the job left Pending.
   */
  startTime?: string;
  /**
   * When the job succeeded or failed.
   */
  completionTime?: string;
  /**
   * Where the sites' clients dial the aggregator.
   */
  aggregatorEndpoint?: string;
  /**
   * The global model on the sites' test sets, sample-weighted, after the last round.
   */
  latestMetrics?: {
    /**
     * Mean loss of the global model on the sites' test records.
     */
    loss?: number;
    /**
     * Share of the sites' test records the global model classifies correctly.
     */
    accuracy?: number;
    /**
     * How many sites' figures went into loss and accuracy.
     */
    participants?: number;
  };
  /**
   * Chunk bytes of the models sent and the training updates received over the closed rounds, on the wire (docs/compression.md).
   */
  traffic?: {
    /**
     * Bytes of the global models sent to the sites.
     */
    downloadBytes?: number;
    /**
     * Bytes of the sites' training updates received.
     */
    uploadBytes?: number;
    /**
     * How many times fewer bytes than unencoded float32 models (1 without spec.compression).
     */
    compressionFactor?: number;
    /**
     * Relative L2 error the download encoding made of the last closed round's global model (0 unencoded).
     */
    downloadError?: number;
  };
  /**
   * Under spec.privacy, what the job has spent, from the aggregator's RDP accountant after the last closed round.
   */
  privacy?: {
    /**
     * Epsilon for delta spent so far.
     */
    epsilon?: number;
    /**
     * The job's delta.
     */
    delta?: number;
    /**
     * spec.privacy.targetEpsilon, when the job has a budget.
     */
    budget?: number;
  };
  /**
   * Each selected site's client and figures.
   *
   * @maxItems 1000
   */
  sites?: {
    /**
     * The Site.
     */
    name: string;
    /**
     * Pending, Running, Succeeded, Failed or Refused (by the site's policy, or by the Site's allowedNamespaces).
     */
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Refused';
    /**
     * What the site agent last said about the job's client (or why the hub gives the site no assignment), cut to 1024 characters.
     */
    message?: string;
    /**
     * Whether phase and message are the site agent's own report of this job (not the hub's default or its refusal). The hub's record of what a site runs: a cordoned site keeps the jobs it reported running, a deleted job waits for a disconnected site that last reported its client.
     */
    reported?: boolean;
    /**
     * The last round in which the site's update was folded in.
     */
    lastRound?: number;
    /**
     * The global model's accuracy on the site's test records, as the site last evaluated it.
     */
    accuracy?: number;
    /**
     * Under spec.personalization, the final model fine-tuned at the site, on the same test records.
     */
    fineTunedAccuracy?: number;
    /**
     * The site's training records.
     */
    samples?: number;
    /**
     * Under spec.asynchronous, the staleness (versions behind) of the site's last applied update.
     */
    staleness?: number;
    /**
     * Under spec.asynchronous, the weight that staleness gave the update (its records times this).
     */
    stalenessWeight?: number;
  }[];
  /**
   * The final global model.
   */
  model?: {
    /**
     * Where the model file is, as pvc://<namespace>/<claim>/<path on the volume>.
     */
    location?: string;
    /**
     * SHA-256 of the model file, hex.
     */
    sha256?: string;
    /**
     * Size of the model file.
     */
    bytes?: number;
  };
  /**
   * Ready (the aggregator is available to the sites) and Progressing (rounds are running), in the metav1.Condition shape.
   *
   * @maxItems 16
   */
  conditions?: {
    /**
     * The condition's name.
     */
    type: string;
    /**
     * Whether the condition holds.
     */
    status: 'True' | 'False' | 'Unknown';
    /**
     * The metadata.generation the condition was computed from.
     */
    observedGeneration?: number;
    /**
     * When status last changed.
     */
    lastTransitionTime: string;
    /**
     * Why, in one CamelCase word, for programs.
     */
    reason: string;
    /**
     * Why, for people.
     */
    message: string;
  }[];
}
