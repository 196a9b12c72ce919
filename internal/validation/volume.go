package validation

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedHostPathTypes = []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate,
		corev1.HostPathDirectory, corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
		corev1.HostPathCharDev, corev1.HostPathBlockDev}
	supportedStorageMedia = []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory,
		corev1.StorageMediumHugePages}
	// Fields of the pod a downward API volume file may hold.
	volumeFieldPaths = sets.New("metadata.name", "metadata.namespace", "metadata.labels",
		"metadata.annotations", "metadata.uid")
)

// maxVolumeFileMode is the largest defaultMode/mode (0777).
const maxVolumeFileMode = 0o777

// source is one member of a union of volume sources.
type source struct {
	name     string
	set      bool
	validate func(*field.Path) field.ErrorList
}

// validateOneSource checks that exactly one source of a union is set and
// validates it.
func validateOneSource(sources []source, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, s := range sources {
		if !s.set {
			continue
		}
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(fldPath.Child(s.name), "may not specify more than 1 volume type"))
			continue
		}
		if s.validate != nil {
			errs = append(errs, s.validate(fldPath.Child(s.name))...)
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a volume type"))
	}
	return errs
}

// validateVolumes checks spec.volumes and returns the sources by name for
// the containers' volumeMounts.
func validateVolumes(volumes []corev1.Volume, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	byName := make(map[string]corev1.VolumeSource, len(volumes))
	for i := range volumes {
		vol := &volumes[i]
		p := fldPath.Index(i)
		if vol.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(vol.Name, p.Child("name"))...)
			if _, dup := byName[vol.Name]; dup {
				errs = append(errs, field.Duplicate(p.Child("name"), vol.Name))
			}
		}
		errs = append(errs, validateVolumeSource(&vol.VolumeSource, p)...)
		if vol.Name != "" {
			byName[vol.Name] = vol.VolumeSource
		}
	}
	return byName, errs
}

// validateVolumeSource checks one pod volume: exactly one source, the
// common ones (emptyDir, hostPath, configMap, secret, projected, downwardAPI,
// persistentVolumeClaim, ephemeral, csi, image) in depth, the in-tree
// cloud and network ones for their required fields.
func validateVolumeSource(vs *corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	return validateOneSource([]source{
		{"hostPath", vs.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(vs.HostPath, p) }},
		{"emptyDir", vs.EmptyDir != nil, func(p *field.Path) field.ErrorList { return validateEmptyDir(vs.EmptyDir, p) }},
		{"gcePersistentDisk", vs.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.GCEPersistentDisk.PDName, p.Child("pdName"))
		}},
		{"awsElasticBlockStore", vs.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.AWSElasticBlockStore.VolumeID, p.Child("volumeID"))
		}},
		{"gitRepo", vs.GitRepo != nil, func(p *field.Path) field.ErrorList { return validateGitRepo(vs.GitRepo, p) }},
		{"secret", vs.Secret != nil, func(p *field.Path) field.ErrorList { return validateSecretVolume(vs.Secret, p) }},
		{"nfs", vs.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFS(vs.NFS, p) }},
		{"iscsi", vs.ISCSI != nil, func(p *field.Path) field.ErrorList {
			return validateISCSI(vs.ISCSI.TargetPortal, vs.ISCSI.IQN, vs.ISCSI.Lun, p)
		}},
		{"glusterfs", vs.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(vs.Glusterfs.EndpointsName, p.Child("endpoints")), requireString(vs.Glusterfs.Path, p.Child("path"))...)
		}},
		{"persistentVolumeClaim", vs.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.PersistentVolumeClaim.ClaimName, p.Child("claimName"))
		}},
		{"rbd", vs.RBD != nil, func(p *field.Path) field.ErrorList {
			return validateRBD(vs.RBD.CephMonitors, vs.RBD.RBDImage, p)
		}},
		{"flexVolume", vs.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.FlexVolume.Driver, p.Child("driver"))
		}},
		{"cinder", vs.Cinder != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.Cinder.VolumeID, p.Child("volumeID"))
		}},
		{"cephfs", vs.CephFS != nil, func(p *field.Path) field.ErrorList {
			return requireList(len(vs.CephFS.Monitors), p.Child("monitors"))
		}},
		{"flocker", vs.Flocker != nil, func(p *field.Path) field.ErrorList {
			return validateFlocker(vs.Flocker, p)
		}},
		{"downwardAPI", vs.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			return validateDownwardAPIVolume(vs.DownwardAPI, p)
		}},
		{"fc", vs.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(vs.FC, p) }},
		{"azureFile", vs.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(vs.AzureFile.SecretName, p.Child("secretName")), requireString(vs.AzureFile.ShareName, p.Child("shareName"))...)
		}},
		{"configMap", vs.ConfigMap != nil, func(p *field.Path) field.ErrorList { return validateConfigMapVolume(vs.ConfigMap, p) }},
		{"vsphereVolume", vs.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.VsphereVolume.VolumePath, p.Child("volumePath"))
		}},
		{"quobyte", vs.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(vs.Quobyte.Registry, p.Child("registry")), requireString(vs.Quobyte.Volume, p.Child("volume"))...)
		}},
		{"azureDisk", vs.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return append(requireString(vs.AzureDisk.DiskName, p.Child("diskName")), requireString(vs.AzureDisk.DataDiskURI, p.Child("diskURI"))...)
		}},
		{"photonPersistentDisk", vs.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.PhotonPersistentDisk.PdID, p.Child("pdID"))
		}},
		{"projected", vs.Projected != nil, func(p *field.Path) field.ErrorList { return validateProjected(vs.Projected, p) }},
		{"portworxVolume", vs.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.PortworxVolume.VolumeID, p.Child("volumeID"))
		}},
		{"scaleIO", vs.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			return validateScaleIO(vs.ScaleIO.Gateway, vs.ScaleIO.System, vs.ScaleIO.VolumeName, p)
		}},
		{"storageos", vs.StorageOS != nil, func(p *field.Path) field.ErrorList {
			return requireString(vs.StorageOS.VolumeName, p.Child("volumeName"))
		}},
		{"csi", vs.CSI != nil, func(p *field.Path) field.ErrorList { return validateCSIDriverName(vs.CSI.Driver, p.Child("driver")) }},
		{"ephemeral", vs.Ephemeral != nil, func(p *field.Path) field.ErrorList { return validateEphemeralVolume(vs.Ephemeral, p) }},
		{"image", vs.Image != nil, func(p *field.Path) field.ErrorList { return validateImageVolume(vs.Image, p) }},
	}, fldPath)
}

func requireString(v string, fldPath *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return nil
}

func requireList(n int, fldPath *field.Path) field.ErrorList {
	if n == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return nil
}

// validateHostPath checks a hostPath source: a path without "..", a known type.
func validateHostPath(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if hp.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	} else {
		errs = append(errs, validateNoBacksteps(hp.Path, fldPath.Child("path"))...)
	}
	if hp.Type != nil {
		errs = append(errs, validateEnum(*hp.Type, false, supportedHostPathTypes, fldPath.Child("type"))...)
	}
	return errs
}

// validateNoBacksteps refuses ".." path elements.
func validateNoBacksteps(p string, fldPath *field.Path) field.ErrorList {
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return field.ErrorList{field.Invalid(fldPath, p, "must not contain '..'")}
		}
	}
	return nil
}

// validateEmptyDir checks an emptyDir: a known medium, a positive sizeLimit.
func validateEmptyDir(ed *corev1.EmptyDirVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(ed.Medium, false, supportedStorageMedia, fldPath.Child("medium"))
	if strings.HasPrefix(string(ed.Medium), string(corev1.StorageMediumHugePagesPrefix)) {
		errs = nil
	}
	if ed.SizeLimit != nil && ed.SizeLimit.Sign() < 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
	}
	return errs
}

// validateGitRepo checks the deprecated gitRepo source.
func validateGitRepo(gr *corev1.GitRepoVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if gr.Repository == "" {
		errs = append(errs, field.Required(fldPath.Child("repository"), ""))
	}
	if gr.Directory != "" {
		errs = append(errs, validateLocalDescendingPath(gr.Directory, fldPath.Child("directory"))...)
	}
	return errs
}

// validateNFS checks an NFS source: server and an absolute path.
func validateNFS(nfs *corev1.NFSVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := requireString(nfs.Server, fldPath.Child("server"))
	if nfs.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	} else if !path.IsAbs(nfs.Path) {
		errs = append(errs, field.Invalid(fldPath.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return errs
}

// validateISCSI checks the fields shared by pod and PV iSCSI sources.
func validateISCSI(portal, iqn string, lun int32, fldPath *field.Path) field.ErrorList {
	errs := requireString(portal, fldPath.Child("targetPortal"))
	errs = append(errs, requireString(iqn, fldPath.Child("iqn"))...)
	if iqn != "" && !strings.HasPrefix(iqn, "iqn") && !strings.HasPrefix(iqn, "eui") && !strings.HasPrefix(iqn, "naa") {
		errs = append(errs, field.Invalid(fldPath.Child("iqn"), iqn, "must be valid format starting with iqn, eui, or naa"))
	}
	errs = append(errs, validateInt32Range(lun, 0, 255, fldPath.Child("lun"))...)
	return errs
}

// validateRBD checks the fields shared by pod and PV RBD sources.
func validateRBD(monitors []string, image string, fldPath *field.Path) field.ErrorList {
	return append(requireList(len(monitors), fldPath.Child("monitors")), requireString(image, fldPath.Child("image"))...)
}

// validateFlocker checks a flocker source: exactly one of name or UUID.
func validateFlocker(f *corev1.FlockerVolumeSource, fldPath *field.Path) field.ErrorList {
	switch {
	case f.DatasetName == "" && f.DatasetUUID == "":
		return field.ErrorList{field.Required(fldPath, "one of datasetName and datasetUUID is required")}
	case f.DatasetName != "" && f.DatasetUUID != "":
		return field.ErrorList{field.Invalid(fldPath, "resource", "datasetName and datasetUUID can not be specified simultaneously")}
	case strings.Contains(f.DatasetName, "/"):
		return field.ErrorList{field.Invalid(fldPath.Child("datasetName"), f.DatasetName, "must not contain '/'")}
	}
	return nil
}

// validateFC checks a fibre channel source: WWNs with a LUN, or WWIDs.
func validateFC(fc *corev1.FCVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case len(fc.TargetWWNs) == 0 && len(fc.WWIDs) == 0:
		errs = append(errs, field.Required(fldPath.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
	case len(fc.TargetWWNs) != 0 && len(fc.WWIDs) != 0:
		errs = append(errs, field.Invalid(fldPath.Child("targetWWNs"), fc.TargetWWNs, "targetWWNs and wwids can not be specified simultaneously"))
	case len(fc.TargetWWNs) != 0:
		if fc.Lun == nil {
			errs = append(errs, field.Required(fldPath.Child("lun"), "lun is required if targetWWNs is specified"))
		} else {
			errs = append(errs, validateInt32Range(*fc.Lun, 0, 255, fldPath.Child("lun"))...)
		}
	}
	return errs
}

// validateScaleIO checks the fields shared by pod and PV ScaleIO sources.
func validateScaleIO(gateway, system, volume string, fldPath *field.Path) field.ErrorList {
	errs := requireString(gateway, fldPath.Child("gateway"))
	errs = append(errs, requireString(system, fldPath.Child("system"))...)
	return append(errs, requireString(volume, fldPath.Child("volumeName"))...)
}

// validateCSIDriverName checks a CSI driver name: a DNS subdomain of at
// most 63 characters.
func validateCSIDriverName(driver string, fldPath *field.Path) field.ErrorList {
	if driver == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if len(driver) > 63 {
		return field.ErrorList{field.TooLong(fldPath, driver, 63)}
	}
	return validateDNS1123Subdomain(strings.ToLower(driver), fldPath)
}

// validateMode checks a file mode of a projected file.
func validateMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode == nil {
		return nil
	}
	if *mode < 0 || *mode > maxVolumeFileMode {
		return field.ErrorList{field.Invalid(fldPath, *mode, fmt.Sprintf("must be a number between 0 and 0%o (octal), both inclusive", maxVolumeFileMode))}
	}
	return nil
}

// validateKeyToPaths checks the items of a configMap or secret volume.
func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, kp := range items {
		p := fldPath.Index(i)
		errs = append(errs, validateConfigMapKey(kp.Key, p.Child("key"))...)
		if kp.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalNonReservedPath(kp.Path, p.Child("path"))...)
		}
		errs = append(errs, validateMode(kp.Mode, p.Child("mode"))...)
	}
	return errs
}

// validateLocalNonReservedPath checks a projected file path: relative,
// without "..", and not starting with ".." (reserved by the atomic writer).
func validateLocalNonReservedPath(p string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(p, fldPath)
	if strings.HasPrefix(p, "..") && !strings.HasPrefix(p, "../") && len(errs) == 0 {
		errs = append(errs, field.Invalid(fldPath, p, "must not start with '..'"))
	}
	return errs
}

// validateSecretVolume checks a secret volume.
func validateSecretVolume(s *corev1.SecretVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := requireString(s.SecretName, fldPath.Child("secretName"))
	if s.SecretName != "" {
		errs = append(errs, validateDNS1123Subdomain(s.SecretName, fldPath.Child("secretName"))...)
	}
	errs = append(errs, validateMode(s.DefaultMode, fldPath.Child("defaultMode"))...)
	return append(errs, validateKeyToPaths(s.Items, fldPath.Child("items"))...)
}

// validateConfigMapVolume checks a configMap volume.
func validateConfigMapVolume(cm *corev1.ConfigMapVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := requireString(cm.Name, fldPath.Child("name"))
	if cm.Name != "" {
		errs = append(errs, validateDNS1123Subdomain(cm.Name, fldPath.Child("name"))...)
	}
	errs = append(errs, validateMode(cm.DefaultMode, fldPath.Child("defaultMode"))...)
	return append(errs, validateKeyToPaths(cm.Items, fldPath.Child("items"))...)
}

// validateDownwardAPIVolume checks a downwardAPI volume.
func validateDownwardAPIVolume(d *corev1.DownwardAPIVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateMode(d.DefaultMode, fldPath.Child("defaultMode"))
	return append(errs, validateDownwardAPIFiles(d.Items, fldPath.Child("items"))...)
}

// validateDownwardAPIFiles checks downward API files: a path and exactly
// one of fieldRef and resourceFieldRef.
func validateDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range items {
		p := fldPath.Index(i)
		if f.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalNonReservedPath(f.Path, p.Child("path"))...)
		}
		switch {
		case f.FieldRef != nil && f.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case f.FieldRef != nil:
			errs = append(errs, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		case f.ResourceFieldRef != nil:
			errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
		default:
			errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
		}
		errs = append(errs, validateMode(f.Mode, p.Child("mode"))...)
	}
	return errs
}

// validateProjected checks a projected volume: each source has exactly one
// projection, and no two projections write the same path.
func validateProjected(pv *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateMode(pv.DefaultMode, fldPath.Child("defaultMode"))
	var paths duplicates[string]
	addPath := func(p string, fp *field.Path) {
		if p != "" && paths.add(path.Clean(p)) {
			errs = append(errs, field.Invalid(fp, p, "conflicting duplicate paths"))
		}
	}
	for i, src := range pv.Sources {
		p := fldPath.Child("sources").Index(i)
		n := 0
		if s := src.Secret; s != nil {
			n++
			sp := p.Child("secret")
			errs = append(errs, requireString(s.Name, sp.Child("name"))...)
			errs = append(errs, validateKeyToPaths(s.Items, sp.Child("items"))...)
			for j, it := range s.Items {
				addPath(it.Path, sp.Child("items").Index(j).Child("path"))
			}
		}
		if c := src.ConfigMap; c != nil {
			n++
			cp := p.Child("configMap")
			errs = append(errs, requireString(c.Name, cp.Child("name"))...)
			errs = append(errs, validateKeyToPaths(c.Items, cp.Child("items"))...)
			for j, it := range c.Items {
				addPath(it.Path, cp.Child("items").Index(j).Child("path"))
			}
		}
		if d := src.DownwardAPI; d != nil {
			n++
			dp := p.Child("downwardAPI")
			errs = append(errs, validateDownwardAPIFiles(d.Items, dp.Child("items"))...)
			for j, it := range d.Items {
				addPath(it.Path, dp.Child("items").Index(j).Child("path"))
			}
		}
		if t := src.ServiceAccountToken; t != nil {
			n++
			tp := p.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil {
				switch {
				case *t.ExpirationSeconds < 10*60:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				case *t.ExpirationSeconds > 1<<32:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if t.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(t.Path, tp.Child("path"))...)
				addPath(t.Path, tp.Child("path"))
			}
		}
		if b := src.ClusterTrustBundle; b != nil {
			n++
			bp := p.Child("clusterTrustBundle")
			if (b.Name == nil) == (b.SignerName == nil) {
				errs = append(errs, field.Invalid(bp, "", "exactly one of name and signerName must be set"))
			}
			if b.Path == "" {
				errs = append(errs, field.Required(bp.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(b.Path, bp.Child("path"))...)
				addPath(b.Path, bp.Child("path"))
			}
		}
		if c := src.PodCertificate; c != nil {
			n++
			cp := p.Child("podCertificate")
			errs = append(errs, requireString(c.SignerName, cp.Child("signerName"))...)
			errs = append(errs, requireString(c.KeyType, cp.Child("keyType"))...)
			addPath(c.CredentialBundlePath, cp.Child("credentialBundlePath"))
			addPath(c.KeyPath, cp.Child("keyPath"))
			addPath(c.CertificateChainPath, cp.Child("certificateChainPath"))
		}
		switch {
		case n == 0:
			errs = append(errs, field.Required(p, "must specify exactly one volume projection"))
		case n > 1:
			errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

// validateEphemeralVolume checks a generic ephemeral volume: a claim
// template whose spec is a valid claim spec.
func validateEphemeralVolume(e *corev1.EphemeralVolumeSource, fldPath *field.Path) field.ErrorList {
	if e.VolumeClaimTemplate == nil {
		return field.ErrorList{field.Required(fldPath.Child("volumeClaimTemplate"), "")}
	}
	tp := fldPath.Child("volumeClaimTemplate")
	errs := validateTemplateObjectMeta(&e.VolumeClaimTemplate.ObjectMeta, tp.Child("metadata"))
	if e.VolumeClaimTemplate.Name != "" || e.VolumeClaimTemplate.Namespace != "" {
		errs = append(errs, field.Invalid(tp.Child("metadata"), e.VolumeClaimTemplate.Name, "name and namespace may not be set: they are derived from the pod"))
	}
	return append(errs, validatePVCSpec(&e.VolumeClaimTemplate.Spec, tp.Child("spec"))...)
}

// validateImageVolume checks an OCI image volume.
func validateImageVolume(iv *corev1.ImageVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if iv.Reference != strings.TrimSpace(iv.Reference) {
		errs = append(errs, field.Invalid(fldPath.Child("reference"), iv.Reference, "must not have leading or trailing whitespace"))
	}
	return append(errs, validateEnum(iv.PullPolicy, false, supportedPullPolicies, fldPath.Child("pullPolicy"))...)
}
