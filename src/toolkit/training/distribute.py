"""Data-parallel training on TensorFlow's distribution engine, in graph mode with sessions.

On one process, ``tf.compat.v1.distribute.MirroredStrategy`` puts a replica of the training
tower on each of ``--devices``: every variable gets one copy per device (the first keeps the
classic name, the others are ``<name>/replica_<i>``), each replica trains on its own slice of
the batch, and the optimizer all-reduces the gradients before one identical update on every
copy. Across processes (``TF_CONFIG`` names the workers),
``tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy`` does the same with
collective all-reduce between the workers; each process serves its part of the graph with a
``tf.distribute.Server`` and runs its session against it. Worker 0 is the chief.

``Replicas`` hides the difference from the training scripts: without devices or a cluster it
builds exactly the single-device graph of the classic scripts.
"""
import contextlib
import dataclasses
import json
import re
import socket
import time

from toolkit.errors import FacenetError
from toolkit.nets import cross_replica
from toolkit.session import session_config
from toolkit.tf_compat import tf, tf2

# Seconds a step may wait for the other workers (also the wait for them at the start).
DEFAULT_WORKER_TIMEOUT = 1800
_TASK_PATTERN = re.compile(r'/job:worker/replica:0/task:(\d+)')


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The worker processes of a multi-worker run (from ``TF_CONFIG``) and which one this is."""
    workers: tuple  # 'host:port' of each worker
    index: int

    @property
    def is_chief(self):
        return self.index == 0

    def describe(self, index):
        return 'worker %d (%s)' % (index, self.workers[index])


def parse_devices(devices='', num_gpus=0):
    """The local devices of ``--devices`` ("/gpu:0,/gpu:1") or ``--num_gpus`` (none: ``()``).

    Raises:
        FacenetError: both given, a malformed or repeated name, or a type other than CPU/GPU.
    """
    if devices and num_gpus:
        raise FacenetError('give either --devices or --num_gpus, not both')
    if num_gpus:
        return tuple('/gpu:%d' % i for i in range(num_gpus))
    names = tuple(name.strip() for name in devices.split(',') if name.strip())
    canonical = []
    for name in names:
        try:
            spec = tf2.DeviceSpec.from_string(name)
        except ValueError:
            spec = None
        if spec is None or spec.device_type not in ('CPU', 'GPU') or spec.device_index is None:
            raise FacenetError('--devices: "%s" is not a device name like /gpu:0 or /cpu:1' % name)
        canonical.append((spec.device_type, spec.device_index))
    if len(set(canonical)) != len(canonical):
        raise FacenetError('--devices names a device twice: %s' % devices)
    return names


def read_tf_config(text):
    """The Cluster described by a ``TF_CONFIG`` value, or None for an empty one.

    Only ``worker`` tasks are used (worker 0 is the chief); a single worker is no cluster.

    Raises:
        FacenetError: not JSON, or without ``cluster.worker`` and a valid ``task``.
    """
    if not text or not text.strip():
        return None
    try:
        config = json.loads(text)
        workers = tuple(config['cluster']['worker'])
        task = config['task']
        task_type, index = task['type'], int(task['index'])
    except (ValueError, KeyError, TypeError) as error:
        raise FacenetError('TF_CONFIG is not valid (%s): expected {"cluster": {"worker": '
                           '["host:port", ...]}, "task": {"type": "worker", "index": i}}'
                           % error) from None
    extra_jobs = sorted(set(config['cluster']) - {'worker'})
    if extra_jobs or task_type != 'worker':
        raise FacenetError('TF_CONFIG: only "worker" tasks are supported (worker 0 is the chief), '
                           'found %s' % ', '.join(extra_jobs or [task_type]))
    if not 0 <= index < len(workers):
        raise FacenetError('TF_CONFIG: task index %d is not among the %d workers'
                           % (index, len(workers)))
    return Cluster(workers, index) if len(workers) > 1 else None


def wait_for_workers(cluster, timeout):
    """Return once every other worker accepts connections; FacenetError naming one that
    did not within ``timeout`` seconds."""
    deadline = time.time() + timeout
    for index, address in enumerate(cluster.workers):
        if index == cluster.index:
            continue
        host, port = address.rsplit(':', 1)
        while True:
            try:
                with socket.create_connection((host, int(port)), timeout=2.0):
                    break
            except OSError:
                if time.time() > deadline:
                    raise FacenetError('%s cannot be reached (no answer within %d s); start '
                                       'every worker of TF_CONFIG' % (cluster.describe(index),
                                                                      timeout)) from None
                time.sleep(0.5)


def _regularize_after_creation(getter, name, *args, **kwargs):
    """Variable getter of a strategy's scope: the regularization loss of a new variable.

    TensorFlow's own (``get_variable(regularizer=...)``) colocates the loss with the new
    variable's handle, which a mirrored variable has no single one of outside a replica;
    the loss is the same computed here from the created variable.
    """
    regularizer = kwargs.pop('regularizer', None)
    variable = getter(name, *args, **kwargs)
    if regularizer is not None and not kwargs.get('reuse'):
        loss = regularizer(variable)
        if loss is not None:
            tf.add_to_collection(tf.GraphKeys.REGULARIZATION_LOSSES, loss)
    return variable


class StopAgreement:
    """Whether training should stop, the same on every worker.

    On one process it is the local request (Ctrl-C, SIGTERM: a StopRequest). In a
    multi-worker run each step carries every worker's request (``Replicas.stop_vote``) and
    ``requested`` turns True on all workers after the same step, so they end their loops
    together (the chief then saves) instead of waiting for a worker that has gone.

    Args:
        local: object with a ``requested`` attribute (a StopRequest).
        vote: ``(fed, agreed)`` from Replicas.stop_vote (``(None, None)``: one process).
    """

    def __init__(self, local, vote=(None, None)):
        self.local = local
        self.fed, self.agreed = vote
        self._agreed = False

    @property
    def requested(self):
        return self.local.requested if self.fed is None else self._agreed

    def add_to_step(self, fetches, feed_dict):
        """Add the vote to a training step's fetches and feed."""
        if self.fed is not None:
            fetches['any_stop'] = self.agreed
            feed_dict[self.fed] = float(self.local.requested)

    def count(self, out):
        """Take the outcome of a step's vote."""
        if self.fed is not None and out['any_stop'] > 0:
            self._agreed = True


class Replicas:
    """The replicas a run trains on: strategy, batch split, session and fault messages.

    Args:
        devices: local device names (``parse_devices``); empty: TensorFlow's default device.
        cluster: a Cluster for a multi-worker run, else None.
        timeout: seconds a step may wait for the other workers.

    With neither devices nor cluster there is no strategy and every method leaves the
    single-device graph as it is.
    """

    def __init__(self, devices=(), cluster=None, timeout=DEFAULT_WORKER_TIMEOUT):
        self.devices = tuple(devices)
        self.cluster = cluster
        self.timeout = timeout
        self.server = None
        self.strategy = None
        self._cpu_count = sum(1 for device in self.devices
                              if tf2.DeviceSpec.from_string(device).device_type == 'CPU')
        if cluster:
            self.strategy = self._multi_worker_strategy()
        elif self.devices:
            self.strategy = tf.distribute.MirroredStrategy(list(self.devices))

    def _multi_worker_strategy(self):
        gpus = [tf2.DeviceSpec.from_string(d) for d in self.devices]
        if self._cpu_count or [d.device_index for d in gpus] != list(range(len(gpus))):
            raise FacenetError('with TF_CONFIG, --devices must be /gpu:0,...,/gpu:<n-1> (or '
                               '--num_gpus n); without it each worker trains on one CPU replica')
        spec = tf2.train.ClusterSpec({'worker': list(self.cluster.workers)})
        resolver = tf2.distribute.cluster_resolver.SimpleClusterResolver(
            spec, task_type='worker', task_id=self.cluster.index,
            num_accelerators={'GPU': len(gpus)} if gpus else None, rpc_layer='grpc')
        return tf.distribute.experimental.MultiWorkerMirroredStrategy(cluster_resolver=resolver)

    @classmethod
    def from_flags(cls, devices='', num_gpus=0, tf_config='', timeout=DEFAULT_WORKER_TIMEOUT):
        """Replicas for ``--devices``/``--num_gpus`` and a ``TF_CONFIG`` value (see
        parse_devices and read_tf_config)."""
        return cls(parse_devices(devices, num_gpus), read_tf_config(tf_config), timeout)

    # -- what the run looks like ----------------------------------------------------------
    @property
    def distributed(self):
        return self.strategy is not None

    @property
    def num_replicas(self):
        """Replicas over all workers."""
        return self.strategy.num_replicas_in_sync if self.strategy else 1

    @property
    def num_workers(self):
        return len(self.cluster.workers) if self.cluster else 1

    @property
    def num_local(self):
        """Replicas of this process."""
        return self.num_replicas // self.num_workers

    @property
    def worker_index(self):
        return self.cluster.index if self.cluster else 0

    @property
    def is_chief(self):
        return self.cluster is None or self.cluster.is_chief

    def describe(self):
        """One line: how many replicas on which devices and workers."""
        if not self.distributed:
            return 'Training on one device'
        where = ', '.join(self.strategy.extended.worker_devices)
        if not self.cluster:
            return 'Training on %d replicas: %s' % (self.num_replicas, where)
        return ('Training on %d replicas over %d workers; this is %s%s, with %s'
                % (self.num_replicas, self.num_workers, self.cluster.describe(self.cluster.index),
                   ' (chief)' if self.is_chief else '', where))

    def local_batch_size(self, global_batch_size, multiple=1, flag='--batch_size'):
        """This worker's part of ``global_batch_size``, checked to split evenly.

        Raises:
            FacenetError: the global batch does not split into equal replica batches that
                are multiples of ``multiple``.
        """
        unit = self.num_replicas * multiple
        if global_batch_size % unit:
            what = ('%d replicas' % self.num_replicas if multiple == 1 else
                    '%d replicas x %d' % (self.num_replicas, multiple))
            raise FacenetError('%s %d does not split evenly over %s: use a multiple of %d'
                               % (flag, global_batch_size, what, unit))
        return global_batch_size // self.num_workers

    @property
    def shard(self):
        """``(nrof_workers, index)`` of this worker, for the input pipeline's
        ``ImageBatches(shard=...)`` (disjoint shares, so no image is trained twice in one
        step); None on one process."""
        return (self.num_workers, self.worker_index) if self.cluster else None

    # -- building the graph ---------------------------------------------------------------
    @contextlib.contextmanager
    def scope(self):
        """Context in which variables become mirrored (a no-op on one device)."""
        if not self.strategy:
            yield
            return
        with self.strategy.scope(), tf.variable_scope(
                tf.get_variable_scope(), custom_getter=_regularize_after_creation,
                auxiliary_name_scope=False):
            yield

    def for_each_replica(self, step_fn):
        """Build ``step_fn()`` once per local replica, in replica context.

        Returns:
            The local replicas' results (any Python values), this worker's first replica
            first; its tensors and ops keep the names a single device gives them.
        """
        if not self.strategy:
            return [step_fn()]
        results = {}

        def record():
            replica_id = tf2.distribute.get_replica_context().replica_id_in_sync_group
            local_index = int(tf.get_static_value(replica_id)) - self.worker_index * self.num_local
            results[local_index] = step_fn()

        # As plain Python: AutoGraph would turn the model's Python branches into graph
        # conditionals, whose merge calls the replicas then make in different orders.
        self.strategy.extended.call_for_each_replica(
            tf2.autograph.experimental.do_not_convert(record))
        return [results[i] for i in range(self.num_local)]

    def stop_vote(self):
        """``(fed, agreed)`` for stopping all workers after the same step (None, None on one
        process): each worker feeds ``fed`` 1.0 once it is asked to stop (Ctrl-C, SIGTERM);
        call it in the replica step and fetch ``agreed`` (> 0: some worker asked) with the
        step, so every worker ends its loop together instead of waiting for a gone one."""
        if not self.cluster:
            return None, None
        fed = tf.placeholder_with_default(0.0, [], name='stop_request')
        return fed, cross_replica.sum_over_replicas(fed)

    def check_same_epoch(self, sess, vote, epoch):
        """Make sure every worker starts at the same ``epoch`` (a resumed run: each worker
        reads the run's training state itself); nothing on one process.

        Uses the step's stop vote ``(fed, agreed)`` (see stop_vote) as an all-reduce of one
        number per worker: the sums of ``epoch`` and of its square equal ``n * epoch`` and
        ``n * epoch ** 2`` only when all n workers fed the same value.

        Raises:
            FacenetError: the workers would resume from different epochs.
        """
        fed, agreed = vote
        if fed is None:
            return
        nrof = self.num_workers
        sums = [sess.run(agreed, {fed: float(epoch) ** power}, options=self.run_options())
                for power in (1, 2)]
        if sums != [nrof * float(epoch), nrof * float(epoch) ** 2]:
            raise FacenetError('the workers would start at different epochs (this is %s, at '
                               'epoch %d; the mean over the workers is %.2f): each worker reads '
                               'the run\'s training state from --models_base_dir/--run_name, '
                               'so give them one shared folder (or the same copy)'
                               % (self.cluster.describe(self.worker_index), epoch,
                                  sums[0] / nrof))

    def replica_slice(self, local_batch):
        """Inside ``step_fn``: this replica's rows of the worker's batch (rows are split in
        order over the local replicas)."""
        context = cross_replica.replica_context()
        if context is None or self.num_local == 1:
            return local_batch
        local_index = context.replica_id_in_sync_group - self.worker_index * self.num_local
        size = tf.shape(local_batch)[0] // self.num_local
        return local_batch[local_index * size:(local_index + 1) * size]

    # -- running it -----------------------------------------------------------------------
    def session_config(self, gpu_memory_fraction=1.0):
        """The ConfigProto of the run: enough CPU devices for ``--devices /cpu:i``, and the
        strategy's collective settings for a multi-worker run."""
        config = session_config(gpu_memory_fraction)
        if self._cpu_count:
            highest = max(tf2.DeviceSpec.from_string(d).device_index for d in self.devices)
            config.device_count['CPU'] = highest + 1
        if self.cluster:
            config = self.strategy.update_config_proto(config)
        return config

    def connect(self, gpu_memory_fraction=1.0):
        """Start this worker's server (once) and wait until the other workers answer (a
        FacenetError naming one that does not within the timeout); nothing on one process."""
        if self.cluster and self.server is None:
            self.server = tf2.distribute.Server(
                tf2.train.ClusterSpec({'worker': list(self.cluster.workers)}), job_name='worker',
                task_index=self.cluster.index, config=self.session_config(gpu_memory_fraction),
                protocol='grpc', start=True)
            wait_for_workers(self.cluster, self.timeout)

    def new_session(self, gpu_memory_fraction=1.0):
        """A session on the default graph: local, or on this worker's server (connect)."""
        config = self.session_config(gpu_memory_fraction)
        if not self.cluster:
            return tf.Session(config=config)
        self.connect(gpu_memory_fraction)
        return tf.Session(self.server.target, config=config)

    def run_options(self):
        """RunOptions bounding a step's wait for the other workers (None: no bound needed)."""
        return tf.RunOptions(timeout_in_ms=int(self.timeout * 1000)) if self.cluster else None

    @contextlib.contextmanager
    def faults_reported(self):
        """Turn a lost or silent worker into a FacenetError naming it."""
        try:
            yield
        except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                tf.errors.AbortedError, tf.errors.CancelledError,
                tf.errors.InternalError) as error:
            if not self.cluster:
                raise
            raise FacenetError(self.fault_message(error)) from None

    def fault_message(self, error):
        """The one-line message for a step that failed because of another worker."""
        if isinstance(error, tf.errors.DeadlineExceededError):
            return ('the other workers did not answer within %d s (--worker_timeout); one of '
                    '%s hangs or is gone' % (self.timeout, ', '.join(
                        self.cluster.describe(i) for i in range(self.num_workers)
                        if i != self.cluster.index)))
        others = [int(i) for i in _TASK_PATTERN.findall(error.message or '')
                  if int(i) != self.cluster.index]
        who = (self.cluster.describe(others[0]) if others
               else 'another worker')
        return ('%s stopped or cannot be reached (%s); the chief\'s last checkpoint stays in '
                'place: restart every worker with --run_name <its run folder name> to go on '
                'from it' % (who, type(error).__name__))
