"""core/v1: Namespace, Node, Pod, Service, Endpoints, ConfigMap, Secret, ServiceAccount,
Event and Binding, with their lists and every struct they contain.

Field names, order, shapes and ``omitempty`` behaviour follow upstream's ``k8s.io/api/core/v1``
(see :mod:`kubeapi.models.base` for the encoding rules). Every field upstream defines is
declared, so that :func:`~kubeapi.models.base.unknown_fields` reports only real mistakes;
volume sources that no component here acts on are declared :data:`~kubeapi.models.base.Opaque`
(known by name, stored as given).
"""
from pydantic import Field

from .base import (
    Base64,
    Int32,
    Int64,
    IntOrString,
    KeepEmpty,
    KubeModel,
    MicroTime,
    OmitZero,
    Opaque,
    QuantityValue,
    Time,
)
from .meta import Condition, KubeObject, LabelSelector, ListMeta, ObjectMeta

ResourceList = dict[str, QuantityValue]
"""Resource name to quantity (``{"cpu": "500m", "memory": "128Mi"}``)."""

# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


class ObjectReference(KubeModel):
    """A reference to any object, optionally to a field inside it (Event.involvedObject)."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class LocalObjectReference(KubeModel):
    """A reference by name to an object in the same namespace (imagePullSecrets)."""

    name: str | None = None


# --------------------------------------------------------------------------------------------
# Namespace
# --------------------------------------------------------------------------------------------


class NamespaceSpec(KubeModel):
    """What must happen before a namespace can be removed."""

    finalizers: list[str] | None = None


class NamespaceCondition(KubeModel):
    """A condition of a namespace (mostly reported while it is being deleted)."""

    type: str
    status: str
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(KubeModel):
    """``Active`` or ``Terminating``."""

    phase: str | None = None
    conditions: list[NamespaceCondition] | None = None


class Namespace(KubeObject):
    """A scope for names; deleting it deletes everything inside."""

    api_version: str = "v1"
    kind: str = "Namespace"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


class NamespaceList(KubeObject):
    api_version: str = "v1"
    kind: str = "NamespaceList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Namespace] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Node
# --------------------------------------------------------------------------------------------


class Taint(KubeModel):
    """Repels pods that do not tolerate it (``node.kubernetes.io/not-ready:NoExecute``)."""

    key: str
    value: str | None = None
    effect: str
    time_added: Time | None = None


class ConfigMapNodeConfigSource(KubeModel):
    """A ConfigMap holding kubelet configuration (dynamic kubelet config, retired upstream)."""

    namespace: str
    name: str
    uid: str | None = None
    resource_version: str | None = None
    kubelet_config_key: str


class NodeConfigSource(KubeModel):
    config_map: ConfigMapNodeConfigSource | None = None


class NodeSpec(KubeModel):
    """Desired node settings: its pod CIDRs (set by node IPAM), taints, cordon flag."""

    pod_cidr: str | None = None
    pod_cidrs: list[str] | None = None
    provider_id: str | None = None
    unschedulable: OmitZero[bool] = None
    taints: list[Taint] | None = None
    config_source: NodeConfigSource | None = None
    external_id: str | None = None


class NodeAddress(KubeModel):
    """``InternalIP``, ``ExternalIP``, ``Hostname``... and the address itself."""

    type: str
    address: str


class NodeCondition(KubeModel):
    """``Ready``, ``MemoryPressure``...; lastHeartbeatTime is the kubelet's last report."""

    type: str
    status: str
    last_heartbeat_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class NodeConfigStatus(KubeModel):
    assigned: NodeConfigSource | None = None
    active: NodeConfigSource | None = None
    last_known_good: NodeConfigSource | None = None
    error: str | None = None


class DaemonEndpoint(KubeModel):
    """A port a node daemon listens on. Upstream's JSON name really is ``Port``."""

    port: Int32 = Field(alias="Port")


class NodeDaemonEndpoints(KubeModel):
    kubelet_endpoint: DaemonEndpoint | None = None


class NodeSwapStatus(KubeModel):
    capacity: Int64 | None = None


class NodeSystemInfo(KubeModel):
    """What the kubelet reports about its machine; upstream writes every field."""

    machine_id: str
    system_uuid: str
    boot_id: str
    kernel_version: str
    os_image: str
    container_runtime_version: str
    kubelet_version: str
    kube_proxy_version: str
    operating_system: str
    architecture: str
    swap: NodeSwapStatus | None = None


class ContainerImage(KubeModel):
    """An image present on the node, as the scheduler's image locality scoring sees it."""

    names: KeepEmpty[list[str]] = None
    size_bytes: OmitZero[Int64] = None


class AttachedVolume(KubeModel):
    name: str
    device_path: str


class NodeRuntimeHandlerFeatures(KubeModel):
    recursive_read_only_mounts: bool | None = None
    user_namespaces: bool | None = None


class NodeRuntimeHandler(KubeModel):
    """A runtime handler of the node's CRI; the default one has the name ``""``, which
    upstream writes (no ``omitempty``)."""

    name: KeepEmpty[str] = None
    features: NodeRuntimeHandlerFeatures | None = None


class NodeFeatures(KubeModel):
    supplemental_groups_policy: bool | None = None


class NodeStatus(KubeModel):
    """What the kubelet observes: resources, conditions, addresses, images."""

    capacity: ResourceList | None = None
    allocatable: ResourceList | None = None
    phase: str | None = None
    conditions: list[NodeCondition] | None = None
    addresses: list[NodeAddress] | None = None
    daemon_endpoints: NodeDaemonEndpoints | None = None
    node_info: NodeSystemInfo | None = None
    images: list[ContainerImage] | None = None
    volumes_in_use: list[str] | None = None
    volumes_attached: list[AttachedVolume] | None = None
    config: NodeConfigStatus | None = None
    runtime_handlers: list[NodeRuntimeHandler] | None = None
    features: NodeFeatures | None = None


class Node(KubeObject):
    """A worker machine; registered by its kubelet."""

    api_version: str = "v1"
    kind: str = "Node"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


class NodeList(KubeObject):
    api_version: str = "v1"
    kind: str = "NodeList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Node] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Pod: scheduling constraints
# --------------------------------------------------------------------------------------------


class NodeSelectorRequirement(KubeModel):
    """``key In/NotIn/Exists/DoesNotExist/Gt/Lt values`` over node labels or fields."""

    key: str
    operator: str
    values: list[str] | None = None


class NodeSelectorTerm(KubeModel):
    """Requirements that must all hold (terms of a NodeSelector are ORed)."""

    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(KubeModel):
    node_selector_terms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(KubeModel):
    weight: Int32
    preference: NodeSelectorTerm


class NodeAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = None


class PodAffinityTerm(KubeModel):
    """Pods matching the selector, counted per value of ``topologyKey`` on their nodes."""

    label_selector: LabelSelector | None = None
    namespaces: list[str] | None = None
    topology_key: str
    namespace_selector: LabelSelector | None = None
    match_label_keys: list[str] | None = None
    mismatch_label_keys: list[str] | None = None


class WeightedPodAffinityTerm(KubeModel):
    weight: Int32
    pod_affinity_term: PodAffinityTerm


class PodAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = None


class PodAntiAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = None


class Affinity(KubeModel):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAntiAffinity | None = None


class Toleration(KubeModel):
    """Lets a pod land on (or stay on) nodes with a matching taint."""

    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: Int64 | None = None


class TopologySpreadConstraint(KubeModel):
    """Keeps matching pods balanced across topology domains (zones, nodes)."""

    max_skew: Int32
    topology_key: str
    when_unsatisfiable: str
    label_selector: LabelSelector | None = None
    min_domains: Int32 | None = None
    node_affinity_policy: str | None = None
    node_taints_policy: str | None = None
    match_label_keys: list[str] | None = None


# --------------------------------------------------------------------------------------------
# Pod: volumes
# --------------------------------------------------------------------------------------------


class KeyToPath(KubeModel):
    """Projects one key of a ConfigMap or Secret to a file path."""

    key: str
    path: str
    mode: Int32 | None = None


class ObjectFieldSelector(KubeModel):
    """A field of the pod itself (``metadata.name``, ``status.podIP``)."""

    api_version: str | None = None
    field_path: str


class ResourceFieldSelector(KubeModel):
    """A container's resource limit or request (``limits.memory``), scaled by ``divisor``."""

    container_name: str | None = None
    resource: str
    divisor: QuantityValue | None = None


class EmptyDirVolumeSource(KubeModel):
    """Scratch space that lives as long as the pod on its node."""

    medium: str | None = None
    size_limit: QuantityValue | None = None


class HostPathVolumeSource(KubeModel):
    path: str
    type: str | None = None


class ConfigMapVolumeSource(KubeModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: Int32 | None = None
    optional: bool | None = None


class SecretVolumeSource(KubeModel):
    secret_name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: Int32 | None = None
    optional: bool | None = None


class PersistentVolumeClaimVolumeSource(KubeModel):
    claim_name: str
    read_only: OmitZero[bool] = None


class DownwardAPIVolumeFile(KubeModel):
    """A file holding one pod field or container resource value."""

    path: str
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: Int32 | None = None


class DownwardAPIVolumeSource(KubeModel):
    items: list[DownwardAPIVolumeFile] | None = None
    default_mode: Int32 | None = None


class ConfigMapProjection(KubeModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class SecretProjection(KubeModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class DownwardAPIProjection(KubeModel):
    items: list[DownwardAPIVolumeFile] | None = None


class ServiceAccountTokenProjection(KubeModel):
    """A bound service account token, refreshed by the kubelet before it expires."""

    audience: str | None = None
    expiration_seconds: Int64 | None = None
    path: str


class ClusterTrustBundleProjection(KubeModel):
    name: str | None = None
    signer_name: str | None = None
    label_selector: LabelSelector | None = None
    optional: bool | None = None
    path: str


class PodCertificateProjection(KubeModel):
    signer_name: str
    key_type: str
    max_expiration_seconds: Int32 | None = None
    credential_bundle_path: str | None = None
    key_path: str | None = None
    certificate_chain_path: str | None = None


class VolumeProjection(KubeModel):
    """One source of a projected volume (exactly one is set)."""

    secret: SecretProjection | None = None
    downward_api: DownwardAPIProjection | None = None
    config_map: ConfigMapProjection | None = None
    service_account_token: ServiceAccountTokenProjection | None = None
    cluster_trust_bundle: ClusterTrustBundleProjection | None = None
    pod_certificate: PodCertificateProjection | None = None


class ProjectedVolumeSource(KubeModel):
    """Several sources merged into one directory (how service account tokens are mounted)."""

    sources: KeepEmpty[list[VolumeProjection]] = None
    default_mode: Int32 | None = None


class Volume(KubeModel):
    """A named volume of a pod; exactly one source is set.

    The sources the kubelet here can provide are typed; the others are known by name and
    kept as given.
    """

    name: str
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    gce_persistent_disk: Opaque = None
    aws_elastic_block_store: Opaque = None
    git_repo: Opaque = None
    secret: SecretVolumeSource | None = None
    nfs: Opaque = None
    iscsi: Opaque = None
    glusterfs: Opaque = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    rbd: Opaque = None
    flex_volume: Opaque = None
    cinder: Opaque = None
    cephfs: Opaque = None
    flocker: Opaque = None
    downward_api: DownwardAPIVolumeSource | None = None
    fc: Opaque = None
    azure_file: Opaque = None
    config_map: ConfigMapVolumeSource | None = None
    vsphere_volume: Opaque = None
    quobyte: Opaque = None
    azure_disk: Opaque = None
    photon_persistent_disk: Opaque = None
    projected: ProjectedVolumeSource | None = None
    portworx_volume: Opaque = None
    scale_io: Opaque = Field(default=None, alias="scaleIO")
    storageos: Opaque = None
    csi: Opaque = None
    ephemeral: Opaque = None
    image: Opaque = None


# --------------------------------------------------------------------------------------------
# Pod: containers
# --------------------------------------------------------------------------------------------


class ContainerPort(KubeModel):
    name: str | None = None
    host_port: OmitZero[Int32] = None
    container_port: Int32
    protocol: str | None = None
    host_ip: str | None = None


class ConfigMapEnvSource(KubeModel):
    name: str | None = None
    optional: bool | None = None


class SecretEnvSource(KubeModel):
    name: str | None = None
    optional: bool | None = None


class EnvFromSource(KubeModel):
    """Imports every key of a ConfigMap or Secret as environment variables."""

    prefix: str | None = None
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None


class ConfigMapKeySelector(KubeModel):
    name: str | None = None
    key: str
    optional: bool | None = None


class SecretKeySelector(KubeModel):
    name: str | None = None
    key: str
    optional: bool | None = None


class FileKeySelector(KubeModel):
    """A key of an env file inside one of the pod's volumes."""

    volume_name: str
    path: str
    key: str
    optional: bool | None = None


class EnvVarSource(KubeModel):
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    config_map_key_ref: ConfigMapKeySelector | None = None
    secret_key_ref: SecretKeySelector | None = None
    file_key_ref: FileKeySelector | None = None


class EnvVar(KubeModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class ResourceClaim(KubeModel):
    """A dynamic resource claim of the pod used by this container."""

    name: str
    request: str | None = None


class ResourceRequirements(KubeModel):
    """Requests decide placement; limits are enforced at run time."""

    limits: ResourceList | None = None
    requests: ResourceList | None = None
    claims: list[ResourceClaim] | None = None


class ContainerResizePolicy(KubeModel):
    resource_name: str
    restart_policy: str


class ContainerRestartRuleOnExitCodes(KubeModel):
    operator: str
    values: list[Int32] | None = None


class ContainerRestartRule(KubeModel):
    action: str
    exit_codes: ContainerRestartRuleOnExitCodes | None = None


class VolumeMount(KubeModel):
    name: str
    read_only: OmitZero[bool] = None
    recursive_read_only: str | None = None
    mount_path: str
    sub_path: str | None = None
    mount_propagation: str | None = None
    sub_path_expr: str | None = None


class VolumeDevice(KubeModel):
    name: str
    device_path: str


class ExecAction(KubeModel):
    """Run a command in the container; exit status 0 is success."""

    command: list[str] | None = None


class HTTPHeader(KubeModel):
    name: str
    value: str


class HTTPGetAction(KubeModel):
    """An HTTP GET; any status in [200, 400) is success."""

    path: str | None = None
    port: IntOrString
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(KubeModel):
    """Success when a TCP connection opens."""

    port: IntOrString
    host: str | None = None


class GRPCAction(KubeModel):
    """A gRPC health check (grpc.health.v1)."""

    port: Int32
    service: str | None = None


class SleepAction(KubeModel):
    seconds: Int64


class Probe(KubeModel):
    """How and when the kubelet checks a container (liveness, readiness, startup)."""

    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: OmitZero[Int32] = None
    timeout_seconds: OmitZero[Int32] = None
    period_seconds: OmitZero[Int32] = None
    success_threshold: OmitZero[Int32] = None
    failure_threshold: OmitZero[Int32] = None
    termination_grace_period_seconds: Int64 | None = None


class LifecycleHandler(KubeModel):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: SleepAction | None = None


class Lifecycle(KubeModel):
    """Hooks run right after start and before stop (the preStop hook delays SIGTERM)."""

    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None
    stop_signal: str | None = None


class Capabilities(KubeModel):
    add: list[str] | None = None
    drop: list[str] | None = None


class SELinuxOptions(KubeModel):
    user: str | None = None
    role: str | None = None
    type: str | None = None
    level: str | None = None


class WindowsSecurityContextOptions(KubeModel):
    gmsa_credential_spec_name: str | None = None
    gmsa_credential_spec: str | None = None
    run_as_user_name: str | None = None
    host_process: bool | None = None


class SeccompProfile(KubeModel):
    type: str
    localhost_profile: str | None = None


class AppArmorProfile(KubeModel):
    type: str
    localhost_profile: str | None = None


class SecurityContext(KubeModel):
    """Per-container privilege and access settings (override the pod's)."""

    capabilities: Capabilities | None = None
    privileged: bool | None = None
    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None
    run_as_user: Int64 | None = None
    run_as_group: Int64 | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    proc_mount: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None


class Container(KubeModel):
    """One container of a pod: image, command, environment, resources, probes, mounts."""

    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env_from: list[EnvFromSource] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    resize_policy: list[ContainerResizePolicy] | None = None
    restart_policy: str | None = None
    restart_policy_rules: list[ContainerRestartRule] | None = None
    volume_mounts: list[VolumeMount] | None = None
    volume_devices: list[VolumeDevice] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    image_pull_policy: str | None = None
    security_context: SecurityContext | None = None
    stdin: OmitZero[bool] = None
    stdin_once: OmitZero[bool] = None
    tty: OmitZero[bool] = None


class EphemeralContainer(Container):
    """A debugging container added to a running pod (``kubectl debug``)."""

    target_container_name: str | None = None


# --------------------------------------------------------------------------------------------
# Pod: spec
# --------------------------------------------------------------------------------------------


class Sysctl(KubeModel):
    name: str
    value: str


class PodSecurityContext(KubeModel):
    """Pod-wide privilege settings and the volume ownership the kubelet applies."""

    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None
    run_as_user: Int64 | None = None
    run_as_group: Int64 | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: list[Int64] | None = None
    supplemental_groups_policy: str | None = None
    fs_group: Int64 | None = None
    sysctls: list[Sysctl] | None = None
    fs_group_change_policy: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_change_policy: str | None = None


class HostAlias(KubeModel):
    """An extra line of the pod's /etc/hosts."""

    ip: str
    hostnames: list[str] | None = None


class PodDNSConfigOption(KubeModel):
    name: str | None = None
    value: str | None = None


class PodDNSConfig(KubeModel):
    """Additions to the resolv.conf the kubelet generates from dnsPolicy."""

    nameservers: list[str] | None = None
    searches: list[str] | None = None
    options: list[PodDNSConfigOption] | None = None


class PodReadinessGate(KubeModel):
    """An extra pod condition that must be True before the pod counts as ready."""

    condition_type: str


class PodOS(KubeModel):
    name: str


class PodSchedulingGate(KubeModel):
    """While any gate remains, the scheduler leaves the pod alone."""

    name: str


class PodResourceClaim(KubeModel):
    name: str
    resource_claim_name: str | None = None
    resource_claim_template_name: str | None = None


class PodSpec(KubeModel):
    """Everything that describes a pod: its containers, volumes and where it may run."""

    volumes: list[Volume] | None = None
    init_containers: list[Container] | None = None
    containers: list[Container]
    ephemeral_containers: list[EphemeralContainer] | None = None
    restart_policy: str | None = None
    termination_grace_period_seconds: Int64 | None = None
    active_deadline_seconds: Int64 | None = None
    dns_policy: str | None = None
    node_selector: dict[str, str] | None = None
    service_account_name: str | None = None
    # Deprecated alias of serviceAccountName, still accepted and written upstream.
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    node_name: str | None = None
    host_network: OmitZero[bool] = None
    host_pid: OmitZero[bool] = None
    host_ipc: OmitZero[bool] = None
    share_process_namespace: bool | None = None
    security_context: PodSecurityContext | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    hostname: str | None = None
    hostname_override: str | None = None
    subdomain: str | None = None
    affinity: Affinity | None = None
    scheduler_name: str | None = None
    tolerations: list[Toleration] | None = None
    host_aliases: list[HostAlias] | None = None
    priority_class_name: str | None = None
    priority: Int32 | None = None
    dns_config: PodDNSConfig | None = None
    readiness_gates: list[PodReadinessGate] | None = None
    runtime_class_name: str | None = None
    enable_service_links: bool | None = None
    preemption_policy: str | None = None
    overhead: ResourceList | None = None
    topology_spread_constraints: list[TopologySpreadConstraint] | None = None
    set_hostname_as_fqdn: bool | None = None
    os: PodOS | None = None
    host_users: bool | None = None
    scheduling_gates: list[PodSchedulingGate] | None = None
    resource_claims: list[PodResourceClaim] | None = None
    resources: ResourceRequirements | None = None


# --------------------------------------------------------------------------------------------
# Pod: status
# --------------------------------------------------------------------------------------------


class PodCondition(KubeModel):
    """``PodScheduled``, ``Initialized``, ``ContainersReady``, ``Ready``..."""

    type: str
    observed_generation: OmitZero[Int64] = None
    status: str
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStateWaiting(KubeModel):
    """Not running yet (``ContainerCreating``, ``ImagePullBackOff``, ``CrashLoopBackOff``)."""

    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(KubeModel):
    started_at: Time | None = None


class ContainerStateTerminated(KubeModel):
    exit_code: Int32
    signal: OmitZero[Int32] = None
    reason: str | None = None
    message: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    container_id: str | None = None


class ContainerState(KubeModel):
    """Exactly one of waiting, running, terminated (waiting when none is set)."""

    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class VolumeMountStatus(KubeModel):
    name: str
    mount_path: str
    read_only: OmitZero[bool] = None
    recursive_read_only: str | None = None


class LinuxContainerUser(KubeModel):
    uid: Int64
    gid: Int64
    supplemental_groups: list[Int64] | None = None


class ContainerUser(KubeModel):
    linux: LinuxContainerUser | None = None


class ResourceHealth(KubeModel):
    resource_id: str
    health: str | None = None


class ResourceStatus(KubeModel):
    name: str
    resources: list[ResourceHealth] | None = None


class ContainerStatus(KubeModel):
    """What the kubelet reports about one container; name, ready, restartCount, image and
    imageID are always written, even when false, zero or empty."""

    name: str
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    ready: bool
    restart_count: Int32
    image: str
    image_id: str
    container_id: str | None = None
    started: bool | None = None
    allocated_resources: ResourceList | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMountStatus] | None = None
    user: ContainerUser | None = None
    allocated_resources_status: list[ResourceStatus] | None = None
    stop_signal: str | None = None


class HostIP(KubeModel):
    ip: str


class PodIP(KubeModel):
    ip: str


class PodResourceClaimStatus(KubeModel):
    name: str
    resource_claim_name: str | None = None


class ContainerExtendedResourceRequest(KubeModel):
    container_name: str
    resource_name: str
    request_name: str


class PodExtendedResourceClaimStatus(KubeModel):
    request_mappings: list[ContainerExtendedResourceRequest]
    resource_claim_name: str


class PodStatus(KubeModel):
    """Where the pod is in its life and what each of its containers is doing."""

    observed_generation: OmitZero[Int64] = None
    phase: str | None = None
    conditions: list[PodCondition] | None = None
    message: str | None = None
    reason: str | None = None
    nominated_node_name: str | None = None
    host_ip: str | None = None
    host_ips: list[HostIP] | None = None
    pod_ip: str | None = None
    pod_ips: list[PodIP] | None = None
    start_time: Time | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None
    qos_class: str | None = None
    ephemeral_container_statuses: list[ContainerStatus] | None = None
    resize: str | None = None
    resource_claim_statuses: list[PodResourceClaimStatus] | None = None
    extended_resource_claim_status: PodExtendedResourceClaimStatus | None = None


class Pod(KubeObject):
    """A group of containers sharing a network namespace and volumes, run on one node."""

    api_version: str = "v1"
    kind: str = "Pod"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec | None = None
    status: PodStatus | None = None


class PodList(KubeObject):
    api_version: str = "v1"
    kind: str = "PodList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Pod] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Service and Endpoints
# --------------------------------------------------------------------------------------------


class ServicePort(KubeModel):
    """A port the Service exposes and the pod port (number or name) it forwards to."""

    name: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None
    port: Int32
    target_port: IntOrString | None = None
    node_port: OmitZero[Int32] = None


class ClientIPConfig(KubeModel):
    timeout_seconds: Int32 | None = None


class SessionAffinityConfig(KubeModel):
    client_ip: ClientIPConfig | None = None


class ServiceSpec(KubeModel):
    """How a Service selects pods and exposes them (ClusterIP, NodePort, LoadBalancer...)."""

    ports: list[ServicePort] | None = None
    selector: dict[str, str] | None = None
    cluster_ip: str | None = None
    cluster_ips: list[str] | None = None
    type: str | None = None
    external_ips: list[str] | None = None
    session_affinity: str | None = None
    load_balancer_ip: str | None = None
    load_balancer_source_ranges: list[str] | None = None
    external_name: str | None = None
    external_traffic_policy: str | None = None
    health_check_node_port: OmitZero[Int32] = None
    publish_not_ready_addresses: OmitZero[bool] = None
    session_affinity_config: SessionAffinityConfig | None = None
    ip_families: list[str] | None = None
    ip_family_policy: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    load_balancer_class: str | None = None
    internal_traffic_policy: str | None = None
    traffic_distribution: str | None = None


class PortStatus(KubeModel):
    port: Int32
    protocol: str
    error: str | None = None


class LoadBalancerIngress(KubeModel):
    """An address the cloud's load balancer answers on."""

    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    ports: list[PortStatus] | None = None


class LoadBalancerStatus(KubeModel):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(KubeModel):
    load_balancer: LoadBalancerStatus | None = None
    conditions: list[Condition] | None = None


class Service(KubeObject):
    """A stable virtual IP and DNS name in front of a changing set of pods."""

    api_version: str = "v1"
    kind: str = "Service"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ServiceSpec | None = None
    status: ServiceStatus | None = None


class ServiceList(KubeObject):
    api_version: str = "v1"
    kind: str = "ServiceList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Service] = Field(default_factory=list)


class EndpointAddress(KubeModel):
    """One backend pod's IP, with the pod it belongs to."""

    ip: str
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(KubeModel):
    name: str | None = None
    port: Int32
    protocol: str | None = None
    app_protocol: str | None = None


class EndpointSubset(KubeModel):
    """Addresses that all serve the same ports (the cross product is the endpoint set)."""

    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(KubeObject):
    """The pod addresses behind a Service, kept by the endpoints controller."""

    api_version: str = "v1"
    kind: str = "Endpoints"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    subsets: list[EndpointSubset] | None = None


class EndpointsList(KubeObject):
    api_version: str = "v1"
    kind: str = "EndpointsList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Endpoints] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Configuration and identity
# --------------------------------------------------------------------------------------------


class ConfigMap(KubeObject):
    """Non-secret configuration: UTF-8 strings in ``data``, base64 bytes in ``binaryData``."""

    api_version: str = "v1"
    kind: str = "ConfigMap"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    immutable: bool | None = None
    data: dict[str, str] | None = None
    binary_data: dict[str, Base64] | None = None


class ConfigMapList(KubeObject):
    api_version: str = "v1"
    kind: str = "ConfigMapList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[ConfigMap] = Field(default_factory=list)


class Secret(KubeObject):
    """Sensitive data; ``data`` values are base64, ``stringData`` is a write-only convenience
    the server merges into ``data``."""

    api_version: str = "v1"
    kind: str = "Secret"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    immutable: bool | None = None
    data: dict[str, Base64] | None = None
    string_data: dict[str, str] | None = None
    type: str | None = None


class SecretList(KubeObject):
    api_version: str = "v1"
    kind: str = "SecretList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Secret] = Field(default_factory=list)


class ServiceAccount(KubeObject):
    """An identity for processes in pods."""

    api_version: str = "v1"
    kind: str = "ServiceAccount"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    secrets: list[ObjectReference] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    automount_service_account_token: bool | None = None


class ServiceAccountList(KubeObject):
    api_version: str = "v1"
    kind: str = "ServiceAccountList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[ServiceAccount] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Event and Binding
# --------------------------------------------------------------------------------------------


class EventSource(KubeModel):
    component: str | None = None
    host: str | None = None


class EventSeries(KubeModel):
    """Repeated occurrences folded into one Event."""

    count: OmitZero[Int32] = None
    last_observed_time: MicroTime | None = None


class Event(KubeObject):
    """Something that happened to an object (``Scheduled``, ``Pulled``, ``BackOff``...).

    ``reportingComponent`` and ``reportingInstance`` have no ``omitempty`` upstream, so they
    are written even when empty.
    """

    api_version: str = "v1"
    kind: str = "Event"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: Time | None = None
    last_timestamp: Time | None = None
    count: OmitZero[Int32] = None
    type: str | None = None
    event_time: MicroTime | None = None
    series: EventSeries | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reporting_component: KeepEmpty[str] = None
    reporting_instance: KeepEmpty[str] = None


class EventList(KubeObject):
    api_version: str = "v1"
    kind: str = "EventList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Event] = Field(default_factory=list)


class Binding(KubeObject):
    """Assigns a pod to a node: what the scheduler POSTs to ``pods/<name>/binding``.

    Binding has no list upstream: it can only be created.
    """

    api_version: str = "v1"
    kind: str = "Binding"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    target: ObjectReference



# --------------------------------------------------------------------------------------------
# Pod templates and PersistentVolumeClaims (embedded by the workload controllers' objects)
# --------------------------------------------------------------------------------------------


class PodTemplateSpec(KubeModel):
    """The pods a controller creates: their metadata (labels, annotations) and spec."""

    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


class TypedLocalObjectReference(KubeModel):
    """A reference to an object of a given group and kind in the same namespace."""

    api_group: str | None = None
    kind: str
    name: str


class TypedObjectReference(KubeModel):
    """Like :class:`TypedLocalObjectReference`, possibly in another namespace."""

    api_group: str | None = None
    kind: str
    name: str
    namespace: str | None = None


class VolumeResourceRequirements(KubeModel):
    """The storage a claim asks for (``requests.storage``) and may grow to."""

    limits: ResourceList | None = None
    requests: ResourceList | None = None


class PersistentVolumeClaimSpec(KubeModel):
    """What storage a claim wants: access modes, size, class, and optionally a source."""

    access_modes: list[str] | None = None
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements | None = None
    volume_name: str | None = None
    storage_class_name: str | None = None
    volume_mode: str | None = None
    data_source: TypedLocalObjectReference | None = None
    data_source_ref: TypedObjectReference | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeClaimCondition(KubeModel):
    """``Resizing``, ``FileSystemResizePending``, ``ModifyingVolume``..."""

    type: str
    status: str
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ModifyVolumeStatus(KubeModel):
    """Progress of changing a bound volume's VolumeAttributesClass."""

    target_volume_attributes_class_name: str | None = None
    status: str


class PersistentVolumeClaimStatus(KubeModel):
    """``Pending``, ``Bound`` or ``Lost``, and what the bound volume actually provides."""

    phase: str | None = None
    access_modes: list[str] | None = None
    capacity: ResourceList | None = None
    conditions: list[PersistentVolumeClaimCondition] | None = None
    allocated_resources: ResourceList | None = None
    allocated_resource_statuses: dict[str, str] | None = None
    current_volume_attributes_class_name: str | None = None
    modify_volume_status: ModifyVolumeStatus | None = None


class PersistentVolumeClaim(KubeObject):
    """A request for storage; also the shape of a StatefulSet's ``volumeClaimTemplates``."""

    api_version: str = "v1"
    kind: str = "PersistentVolumeClaim"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None
