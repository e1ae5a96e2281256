//! The StatefulSet running the nodes.
//!
//! Parallel pod management (a new ring forms from all pods at once, no ordered start) and the
//! OnDelete update strategy (the operator decides which pod restarts when). The pod template
//! carries two hashes: the configuration's (membership keys excluded, since nodes reload those
//! without a restart) and the template's own, which the planner compares with each pod's.
//!
//! With TLS the pods mount the `<name>-tls` Secret at `/etc/omring/tls` as a whole directory
//! (never with subPath, which the kubelet does not update): a renewed certificate reaches the
//! running node as changed files, and the template, so the hash, does not change with it.
//! Switching TLS on or off changes the template (volume, configuration, `omring.io/tls`).
//!
//! The pods pass the `restricted` Pod Security Standard: non-root (the image's user 65532),
//! no privilege escalation, every capability dropped, the RuntimeDefault seccomp profile, a
//! read-only root filesystem with writable `/data` (the volume, group 65532) and `/tmp`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount, VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use om_client::config::{DEFAULT_HTTP_PORT, DEFAULT_OM_PORT, DEFAULT_RATIS_PORT};
use om_client::wire::{PATH_LIVE, PATH_READY};

use super::child_meta;
use crate::model::RingModel;
use crate::names::{
    short_hash, ANNOTATION_CONFIG_HASH, ANNOTATION_POD_SPEC_HASH, ANNOTATION_TLS, CONFIG_FILE, CONFIG_MOUNT, CONTAINER,
    DATA_MOUNT, DATA_VOLUME, TLS_MOUNT,
};

/// User and group the node runs as (the om-node image's non-root user, `USER 65532:65532`).
pub const RUN_AS: i64 = 65532;
/// Mode of the mounted certificate files: readable by the owner (root) and the pod's group.
const TLS_FILE_MODE: i32 = 0o440;
/// Time a leader gets to hand off leadership on SIGTERM before it is killed.
const TERMINATION_GRACE_SECONDS: i64 = 60;

fn container_port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: port.into(),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: path.into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("om-http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// Default scheduling: prefer one node of the ring per Kubernetes node.
fn default_affinity(model: &RingModel) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: PodAffinityTerm {
                    topology_key: "kubernetes.io/hostname".into(),
                    label_selector: Some(LabelSelector {
                        match_labels: Some(model.names.selector_labels()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pod and container security contexts of the `restricted` Pod Security Standard.
pub fn restricted_security() -> (PodSecurityContext, SecurityContext) {
    let pod = PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    };
    // runAsNonRoot and the seccomp profile hold for every container from the pod's context.
    let container = SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
        ..Default::default()
    };
    (pod, container)
}

/// The pod template, with both hash annotations.
pub fn pod_template(model: &RingModel, config_hash: &str) -> PodTemplateSpec {
    let (pod_security, container_security) = restricted_security();
    let mut mounts = vec![
        VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_MOUNT.into(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount { name: DATA_VOLUME.into(), mount_path: DATA_MOUNT.into(), ..Default::default() },
        VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() },
    ];
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource { name: model.names.configmap(), ..Default::default() }),
            ..Default::default()
        },
        Volume { name: "tmp".into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() },
    ];
    if model.tls.is_some() {
        mounts.push(VolumeMount {
            name: "tls".into(),
            mount_path: TLS_MOUNT.into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "tls".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(model.names.tls_secret()),
                default_mode: Some(TLS_FILE_MODE),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let container = Container {
        name: CONTAINER.into(),
        image: Some(model.image.clone()),
        image_pull_policy: model.image_pull_policy.clone(),
        command: Some(vec!["om-node".into()]),
        args: Some(vec![
            "om".into(),
            "--conf".into(),
            format!("{CONFIG_MOUNT}/{CONFIG_FILE}"),
            "-Dozone.om.node.id=$(POD_NAME)".into(),
        ]),
        env: Some(vec![field_env("POD_NAME", "metadata.name"), field_env("POD_NAMESPACE", "metadata.namespace")]),
        ports: Some(vec![
            container_port("om-rpc", DEFAULT_OM_PORT),
            container_port("om-ratis", DEFAULT_RATIS_PORT),
            container_port("om-http", DEFAULT_HTTP_PORT),
        ]),
        readiness_probe: Some(http_probe(PATH_READY, 5, 3)),
        liveness_probe: Some(http_probe(PATH_LIVE, 10, 6)),
        resources: model.resources.clone(),
        security_context: Some(container_security),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let spec = PodSpec {
        service_account_name: Some(model.names.service_account()),
        // A secure ring's nodes call TokenReview with their ServiceAccount's token.
        automount_service_account_token: Some(model.tls.is_some()),
        termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
        security_context: Some(pod_security),
        containers: vec![container],
        volumes: Some(volumes),
        node_selector: model.node_selector.clone(),
        tolerations: model.tolerations.clone(),
        affinity: Some(model.affinity.clone().unwrap_or_else(|| default_affinity(model))),
        ..Default::default()
    };
    // Only TLS pods carry the transport annotation: a plaintext ring's template stays what it
    // was before TLS existed, so upgrading the operator does not restart it.
    let mut annotations = BTreeMap::from([(ANNOTATION_CONFIG_HASH.to_string(), config_hash.to_string())]);
    if model.tls.is_some() {
        annotations.insert(ANNOTATION_TLS.to_string(), "true".to_string());
    }
    let mut template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(model.names.labels()),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(spec),
    };
    let hash = pod_spec_hash(&template);
    if let Some(a) = template.metadata.as_mut().and_then(|m| m.annotations.as_mut()) {
        a.insert(ANNOTATION_POD_SPEC_HASH.into(), hash);
    }
    template
}

/// Hash of a template without its own hash annotation.
fn pod_spec_hash(template: &PodTemplateSpec) -> String {
    let mut t = template.clone();
    if let Some(a) = t.metadata.as_mut().and_then(|m| m.annotations.as_mut()) {
        a.remove(ANNOTATION_POD_SPEC_HASH);
    }
    // Serializing k8s-openapi types is deterministic (fields in declaration order, maps sorted).
    short_hash(serde_json::to_string(&t).unwrap_or_default().as_bytes())
}

/// The desired pod template's hash, as the planner compares it with pods.
pub fn desired_pod_spec_hash(template: &PodTemplateSpec) -> String {
    template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(ANNOTATION_POD_SPEC_HASH).cloned())
        .unwrap_or_default()
}

/// The StatefulSet with `replicas` pods and the given pod template.
pub fn build(model: &RingModel, replicas: u32, template: PodTemplateSpec) -> StatefulSet {
    let mut storage_request = BTreeMap::new();
    storage_request.insert("storage".to_string(), model.storage.size.clone());
    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.into()),
            labels: Some(model.names.selector_labels()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: model.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements { requests: Some(storage_request), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    };
    StatefulSet {
        metadata: child_meta(model, model.names.statefulset()),
        spec: Some(StatefulSetSpec {
            replicas: Some(i32::try_from(replicas).unwrap_or(i32::MAX)),
            service_name: Some(model.names.headless_service()),
            pod_management_policy: Some("Parallel".into()),
            update_strategy: Some(StatefulSetUpdateStrategy { type_: Some("OnDelete".into()), ..Default::default() }),
            selector: LabelSelector { match_labels: Some(model.names.selector_labels()), ..Default::default() },
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(model.pvc_retention.when_deleted.as_str().into()),
                when_scaled: Some(model.pvc_retention.when_scaled.as_str().into()),
            }),
            template,
            volume_claim_templates: Some(vec![claim]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::golden;

    #[test]
    fn golden() {
        let m = golden::model();
        golden::check("statefulset", &build(&m, 3, pod_template(&m, "cfghash")));
    }

    /// A ring without TLS renders exactly what the operator rendered before TLS existed
    /// (`statefulset.yaml` of that version, kept as `statefulset-plaintext.yaml`): upgrading
    /// the operator restarts no plaintext ring.
    #[test]
    fn golden_plaintext_is_the_template_from_before_tls() {
        let mut m = golden::model();
        m.tls = None;
        golden::check("statefulset-plaintext", &build(&m, 3, pod_template(&m, "cfghash")));
    }

    #[test]
    fn template_hash_follows_image_and_config_but_not_replicas() {
        let m = golden::model();
        let base = desired_pod_spec_hash(&pod_template(&m, "a"));
        assert_eq!(base, desired_pod_spec_hash(&pod_template(&m, "a")));
        assert_ne!(base, desired_pod_spec_hash(&pod_template(&m, "b")));
        let mut other = m.clone();
        other.image = "omring/om-node:next".into();
        assert_ne!(base, desired_pod_spec_hash(&pod_template(&other, "a")));
        let five = build(&m, 5, pod_template(&m, "a"));
        assert_eq!(desired_pod_spec_hash(&five.spec.unwrap().template), base);
    }

    #[test]
    fn enabling_tls_mounts_the_secret_and_changes_the_hash_but_renewal_does_not() {
        let m = golden::model();
        let site = |m: &RingModel| crate::siteconfig::render(m, &crate::siteconfig::Membership::first(3)).restart_hash;
        let with_tls = pod_template(&m, &site(&m));
        let spec = with_tls.spec.clone().unwrap();
        let tls_volume = spec.volumes.as_ref().unwrap().iter().find(|v| v.name == "tls").unwrap();
        let secret = tls_volume.secret.as_ref().unwrap();
        assert_eq!(secret.secret_name.as_deref(), Some("om-tls"));
        assert_eq!(secret.default_mode, Some(0o440));
        let mount = spec.containers[0].volume_mounts.as_ref().unwrap().iter().find(|v| v.name == "tls").unwrap();
        assert_eq!(
            (mount.mount_path.as_str(), mount.read_only, mount.sub_path.as_deref()),
            ("/etc/omring/tls", Some(true), None)
        );
        assert_eq!(with_tls.metadata.as_ref().unwrap().annotations.as_ref().unwrap()[ANNOTATION_TLS], "true");

        let mut plain = m.clone();
        plain.tls = None;
        let without = pod_template(&plain, &site(&plain));
        let spec = without.spec.clone().unwrap();
        assert!(spec.volumes.as_ref().unwrap().iter().all(|v| v.name != "tls"));
        assert!(spec.containers[0].volume_mounts.as_ref().unwrap().iter().all(|v| v.name != "tls"));
        assert!(!without.metadata.as_ref().unwrap().annotations.as_ref().unwrap().contains_key(ANNOTATION_TLS));
        assert_ne!(desired_pod_spec_hash(&with_tls), desired_pod_spec_hash(&without));
        // Even with the same configuration hash, the mount alone changes the template.
        assert_ne!(desired_pod_spec_hash(&pod_template(&m, "x")), desired_pod_spec_hash(&pod_template(&plain, "x")));

        // Certificates are not part of the template: the same model renders the same hash
        // before and after any renewal, other durations change nothing either, and neither
        // does cert-manager issuing them instead of the operator (same Secret, same files).
        let mut renewed_policy = m.clone();
        renewed_policy.tls = Some(crate::model::TlsModel {
            certificate_duration: std::time::Duration::from_secs(3600),
            renew_before: std::time::Duration::from_secs(600),
            issuer: None,
        });
        assert_eq!(
            desired_pod_spec_hash(&pod_template(&renewed_policy, &site(&renewed_policy))),
            desired_pod_spec_hash(&with_tls)
        );
        let mut by_cert_manager = m.clone();
        by_cert_manager.tls = Some(crate::model::TlsModel {
            issuer: Some(crate::model::IssuerModel {
                name: "ca".into(),
                kind: "ClusterIssuer".into(),
                group: "cert-manager.io".into(),
            }),
            ..m.tls.clone().unwrap()
        });
        assert_eq!(
            desired_pod_spec_hash(&pod_template(&by_cert_manager, &site(&by_cert_manager))),
            desired_pod_spec_hash(&with_tls)
        );
    }

    #[test]
    fn pods_pass_the_restricted_pod_security_standard() {
        for tls in [true, false] {
            let mut m = golden::model();
            if !tls {
                m.tls = None;
            }
            let spec = pod_template(&m, "a").spec.unwrap();
            let pod = spec.security_context.as_ref().unwrap();
            assert_eq!(pod.run_as_non_root, Some(true));
            assert!(pod.run_as_user.is_some_and(|u| u != 0));
            assert_eq!(pod.fs_group, Some(RUN_AS));
            assert_eq!(pod.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
            assert!(spec.host_network.is_none() && spec.host_pid.is_none() && spec.host_ipc.is_none());
            for c in &spec.containers {
                let sc = c.security_context.as_ref().unwrap();
                assert_eq!(sc.allow_privilege_escalation, Some(false));
                assert_eq!(sc.read_only_root_filesystem, Some(true));
                assert_ne!(sc.privileged, Some(true));
                assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_string()][..]));
                assert!(sc.capabilities.as_ref().unwrap().add.is_none());
                assert!(c.ports.iter().flatten().all(|p| p.host_port.is_none()));
            }
            // Only volume types the restricted profile allows.
            for v in spec.volumes.as_ref().unwrap() {
                assert!(v.config_map.is_some() || v.secret.is_some() || v.empty_dir.is_some(), "{}", v.name);
            }
            // The root filesystem is read-only: /data and /tmp are the writable places.
            let mounts = spec.containers[0].volume_mounts.as_ref().unwrap();
            for path in ["/data", "/tmp"] {
                assert!(mounts.iter().any(|m| m.mount_path == path && m.read_only != Some(true)), "{path}");
            }
        }
    }

    #[test]
    fn user_affinity_replaces_the_default_spread() {
        let mut m = golden::model();
        let t = pod_template(&m, "a");
        assert!(t.spec.unwrap().affinity.unwrap().pod_anti_affinity.is_some());
        m.affinity = Some(Affinity::default());
        let t = pod_template(&m, "a");
        assert_eq!(t.spec.unwrap().affinity, Some(Affinity::default()));
    }
}
