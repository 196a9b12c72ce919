package validation

import (
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany,
		corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedReclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete,
		corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
	supportedPVPhases    = []corev1.PersistentVolumePhase{corev1.VolumeAvailable, corev1.VolumeBound,
		corev1.VolumeFailed, corev1.VolumePending, corev1.VolumeReleased}
	supportedPVCPhases = []corev1.PersistentVolumeClaimPhase{corev1.ClaimBound, corev1.ClaimLost, corev1.ClaimPending}
)

// validateAccessModes checks a PV's or claim's access modes: at least one,
// known, and ReadWriteOncePod alone.
func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(fldPath, "at least 1 access mode is required")}
	}
	var errs field.ErrorList
	for _, m := range modes {
		errs = append(errs, validateEnum(m, true, supportedAccessModes, fldPath)...)
	}
	if len(modes) > 1 && sets.New(modes...).Has(corev1.ReadWriteOncePod) {
		errs = append(errs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

// ValidatePersistentVolume checks a persistent volume on create.
func ValidatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	errs := ValidateObjectMeta(&pv.ObjectMeta, false, NameIsPathSegment, field.NewPath("metadata"))
	return append(errs, validatePVSpec(&pv.Spec, field.NewPath("spec"))...)
}

// validatePVSpec checks a persistent volume's spec: access modes, a storage
// capacity only, exactly one volume source, reclaim policy, volume mode,
// node affinity (required for local volumes).
func validatePVSpec(spec *corev1.PersistentVolumeSpec, fldPath *field.Path) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))
	capPath := fldPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	} else if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(capPath, spec.Capacity, []string{string(corev1.ResourceStorage)}))
	}
	for name, q := range spec.Capacity {
		errs = append(errs, validateQuantityNonnegative(q, capPath.Key(string(name)))...)
	}
	errs = append(errs, validateEnum(spec.PersistentVolumeReclaimPolicy, false, supportedReclaimPolicies, fldPath.Child("persistentVolumeReclaimPolicy"))...)
	if spec.VolumeMode != nil {
		errs = append(errs, validateEnum(*spec.VolumeMode, true, supportedVolumeModes, fldPath.Child("volumeMode"))...)
	}
	if spec.StorageClassName != "" {
		errs = append(errs, validateNameRef(spec.StorageClassName, NameIsDNSSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.NodeAffinity != nil {
		if spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(fldPath.Child("nodeAffinity", "required"), ""))
		} else {
			errs = append(errs, validateNodeSelector(spec.NodeAffinity.Required, fldPath.Child("nodeAffinity", "required"))...)
		}
	}
	if ref := spec.ClaimRef; ref != nil {
		if ref.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("claimRef", "name"), ""))
		}
		if ref.Namespace != "" {
			errs = append(errs, validateNameRef(ref.Namespace, NameIsDNSLabel, fldPath.Child("claimRef", "namespace"))...)
		}
	}
	src := &spec.PersistentVolumeSource
	if src.Local != nil && spec.NodeAffinity == nil {
		errs = append(errs, field.Required(fldPath.Child("nodeAffinity"), "Local volume requires node affinity"))
	}
	if spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle && src.HostPath != nil && path.Clean(src.HostPath.Path) == "/" {
		errs = append(errs, field.Forbidden(fldPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath volume pointing to the root directory"))
	}
	errs = append(errs, validateOneSource([]source{
		{"gcePersistentDisk", src.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireString(src.GCEPersistentDisk.PDName, p.Child("pdName"))
		}},
		{"awsElasticBlockStore", src.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return requireString(src.AWSElasticBlockStore.VolumeID, p.Child("volumeID"))
		}},
		{"hostPath", src.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(src.HostPath, p) }},
		{"glusterfs", src.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(src.Glusterfs.EndpointsName, p.Child("endpoints")), requireString(src.Glusterfs.Path, p.Child("path"))...)
		}},
		{"nfs", src.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFS(src.NFS, p) }},
		{"rbd", src.RBD != nil, func(p *field.Path) field.ErrorList { return validateRBD(src.RBD.CephMonitors, src.RBD.RBDImage, p) }},
		{"iscsi", src.ISCSI != nil, func(p *field.Path) field.ErrorList {
			return validateISCSI(src.ISCSI.TargetPortal, src.ISCSI.IQN, src.ISCSI.Lun, p)
		}},
		{"cinder", src.Cinder != nil, func(p *field.Path) field.ErrorList { return requireString(src.Cinder.VolumeID, p.Child("volumeID")) }},
		{"cephfs", src.CephFS != nil, func(p *field.Path) field.ErrorList { return requireList(len(src.CephFS.Monitors), p.Child("monitors")) }},
		{"fc", src.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(src.FC, p) }},
		{"flocker", src.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlocker(src.Flocker, p) }},
		{"flexVolume", src.FlexVolume != nil, func(p *field.Path) field.ErrorList { return requireString(src.FlexVolume.Driver, p.Child("driver")) }},
		{"azureFile", src.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(src.AzureFile.SecretName, p.Child("secretName")), requireString(src.AzureFile.ShareName, p.Child("shareName"))...)
		}},
		{"vsphereVolume", src.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requireString(src.VsphereVolume.VolumePath, p.Child("volumePath"))
		}},
		{"quobyte", src.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(src.Quobyte.Registry, p.Child("registry")), requireString(src.Quobyte.Volume, p.Child("volume"))...)
		}},
		{"azureDisk", src.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(src.AzureDisk.DiskName, p.Child("diskName")), requireString(src.AzureDisk.DataDiskURI, p.Child("diskURI"))...)
		}},
		{"photonPersistentDisk", src.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireString(src.PhotonPersistentDisk.PdID, p.Child("pdID"))
		}},
		{"portworxVolume", src.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireString(src.PortworxVolume.VolumeID, p.Child("volumeID"))
		}},
		{"scaleIO", src.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			return validateScaleIO(src.ScaleIO.Gateway, src.ScaleIO.System, src.ScaleIO.VolumeName, p)
		}},
		{"local", src.Local != nil, func(p *field.Path) field.ErrorList {
			if src.Local.Path == "" {
				return field.ErrorList{field.Required(p.Child("path"), "")}
			}
			if !path.IsAbs(src.Local.Path) {
				return field.ErrorList{field.Invalid(p.Child("path"), src.Local.Path, "must be an absolute path")}
			}
			return validateNoBacksteps(src.Local.Path, p.Child("path"))
		}},
		{"storageos", src.StorageOS != nil, func(p *field.Path) field.ErrorList {
			return requireString(src.StorageOS.VolumeName, p.Child("volumeName"))
		}},
		{"csi", src.CSI != nil, func(p *field.Path) field.ErrorList {
			errs := validateCSIDriverName(src.CSI.Driver, p.Child("driver"))
			return append(errs, requireString(src.CSI.VolumeHandle, p.Child("volumeHandle"))...)
		}},
	}, fldPath)...)
	return errs
}

// ValidatePersistentVolumeUpdate checks a PV update: the volume source,
// volume mode and a set node affinity are fixed.
func ValidatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validatePVSpec(&pv.Spec, sp)...)
	if !equality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(sp.Child("persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	errs = append(errs, validateImmutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, sp.Child("volumeMode"))...)
	if old.Spec.NodeAffinity != nil {
		errs = append(errs, validateImmutable(pv.Spec.NodeAffinity, old.Spec.NodeAffinity, sp.Child("nodeAffinity"))...)
	}
	return errs
}

// ValidatePersistentVolumeStatusUpdate checks persistentvolumes/status.
func ValidatePersistentVolumeStatusUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateEnum(pv.Status.Phase, false, supportedPVPhases, field.NewPath("status", "phase"))...)
}

// ValidatePersistentVolumeClaim checks a claim on create.
func ValidatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := ValidateObjectMeta(&pvc.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validatePVCSpec(&pvc.Spec, field.NewPath("spec"))...)
}

// validatePVCSpec checks a claim spec (also of claim templates): access
// modes, a positive storage request, selector, class, volume mode and data
// sources.
func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))
	errs = append(errs, validateLabelSelector(spec.Selector, fldPath.Child("selector"))...)
	reqPath := fldPath.Child("resources", "requests")
	storage, ok := spec.Resources.Requests[corev1.ResourceStorage]
	switch {
	case !ok:
		errs = append(errs, field.Required(fldPath.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	case storage.Sign() <= 0:
		errs = append(errs, field.Invalid(reqPath.Key(string(corev1.ResourceStorage)), storage.String(), isNotPositiveMsg))
	}
	for name, q := range spec.Resources.Requests {
		errs = append(errs, validateQuantityNonnegative(q, reqPath.Key(string(name)))...)
	}
	for name, q := range spec.Resources.Limits {
		errs = append(errs, validateQuantityNonnegative(q, fldPath.Child("resources", "limits").Key(string(name)))...)
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		errs = append(errs, validateNameRef(*spec.StorageClassName, NameIsDNSSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		errs = append(errs, validateEnum(*spec.VolumeMode, true, supportedVolumeModes, fldPath.Child("volumeMode"))...)
	}
	if spec.VolumeAttributesClassName != nil && *spec.VolumeAttributesClassName != "" {
		errs = append(errs, validateNameRef(*spec.VolumeAttributesClassName, NameIsDNSSubdomain, fldPath.Child("volumeAttributesClassName"))...)
	}
	if ds := spec.DataSource; ds != nil {
		p := fldPath.Child("dataSource")
		errs = append(errs, requireString(ds.Kind, p.Child("kind"))...)
		errs = append(errs, requireString(ds.Name, p.Child("name"))...)
		if (ds.APIGroup == nil || *ds.APIGroup == "") && ds.Kind != "" && ds.Kind != "PersistentVolumeClaim" {
			errs = append(errs, field.NotSupported(p, ds.Kind, []string{"PersistentVolumeClaim"}))
		}
	}
	if ref := spec.DataSourceRef; ref != nil {
		p := fldPath.Child("dataSourceRef")
		errs = append(errs, requireString(ref.Kind, p.Child("kind"))...)
		errs = append(errs, requireString(ref.Name, p.Child("name"))...)
		if ds := spec.DataSource; ds != nil && (ds.Kind != ref.Kind || ds.Name != ref.Name || !equality.Semantic.DeepEqual(ds.APIGroup, ref.APIGroup) || ref.Namespace != nil) {
			errs = append(errs, field.Invalid(fldPath, fldPath.Child("dataSource").String(), "must match dataSourceRef"))
		}
	}
	return errs
}

// ValidatePersistentVolumeClaimUpdate checks a claim update. The spec is
// fixed except: the volume name once (binding), the storage request of a
// bound claim (expansion, never below the current capacity, nor below the
// previous request when no capacity is known) and the volume attributes
// class.
func ValidatePersistentVolumeClaimUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validatePVCSpec(&pvc.Spec, sp)...)
	munged := old.Spec.DeepCopy()
	if old.Spec.VolumeName == "" {
		munged.VolumeName = pvc.Spec.VolumeName
	}
	munged.VolumeAttributesClassName = pvc.Spec.VolumeAttributesClassName
	// Retroactive default storage class: a claim created without a class
	// (nil, not "") and without the beta class annotation may be given
	// one later, as Kubernetes allows (the volume controller does it).
	if _, beta := old.Annotations["volume.beta.kubernetes.io/storage-class"]; !beta && old.Spec.StorageClassName == nil &&
		pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		munged.StorageClassName = pvc.Spec.StorageClassName
	}
	if old.Status.Phase == corev1.ClaimBound {
		munged.Resources.Requests = pvc.Spec.Resources.Requests
		newReq := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		reqPath := sp.Child("resources", "requests", "storage")
		if capacity, ok := old.Status.Capacity[corev1.ResourceStorage]; ok {
			if newReq.Cmp(capacity) < 0 {
				errs = append(errs, field.Forbidden(reqPath, "field can not be less than status.capacity"))
			}
		} else if oldReq := old.Spec.Resources.Requests[corev1.ResourceStorage]; newReq.Cmp(oldReq) < 0 {
			errs = append(errs, field.Forbidden(reqPath, "field can not be less than previous value"))
		}
	}
	if !equality.Semantic.DeepEqual(munged, &pvc.Spec) {
		errs = append(errs, field.Forbidden(sp, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	return errs
}

// ValidatePersistentVolumeClaimStatusUpdate checks
// persistentvolumeclaims/status: phase, access modes and capacity.
func ValidatePersistentVolumeClaimStatusUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	p := field.NewPath("status")
	errs = append(errs, validateEnum(pvc.Status.Phase, false, supportedPVCPhases, p.Child("phase"))...)
	for i, m := range pvc.Status.AccessModes {
		errs = append(errs, validateEnum(m, true, supportedAccessModes, p.Child("accessModes").Index(i))...)
	}
	for name, q := range pvc.Status.Capacity {
		errs = append(errs, validateQuantityNonnegative(q, p.Child("capacity").Key(string(name)))...)
	}
	return errs
}
