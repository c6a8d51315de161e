package whisk

import "strconv"

// InvokerInstanceID identifies an invoker in pings and acks. The controller's
// reader requires instance, userMemory, instanceType, tags and
// dedicatedNamespaces, so the two arrays are always written.
type InvokerInstanceID struct {
	Instance            int      `json:"instance"`
	UserMemory          ByteSize `json:"userMemory"`
	InstanceType        string   `json:"instanceType"`
	Tags                []string `json:"tags"`
	DedicatedNamespaces []string `json:"dedicatedNamespaces"`
	UniqueName          string   `json:"uniqueName,omitempty"`
	DisplayedName       string   `json:"displayedName,omitempty"`
}

// NewInvokerInstanceID fills in the type and the arrays the controller needs.
func NewInvokerInstanceID(instance int, userMemory ByteSize, uniqueName, displayedName string, tags []string) InvokerInstanceID {
	if tags == nil {
		tags = []string{}
	}
	return InvokerInstanceID{
		Instance: instance, UserMemory: userMemory, InstanceType: "invoker",
		Tags: tags, DedicatedNamespaces: []string{},
		UniqueName: uniqueName, DisplayedName: displayedName,
	}
}

// String is invoker{N}[/uniqueName][/displayedName], the key of the
// controller's GET /invokers.
func (i InvokerInstanceID) String() string {
	s := "invoker" + strconv.Itoa(i.Instance)
	if i.UniqueName != "" {
		s += "/" + i.UniqueName
	}
	if i.DisplayedName != "" {
		s += "/" + i.DisplayedName
	}
	return s
}

// ControllerInstanceID is a message's rootControllerIndex.
type ControllerInstanceID struct {
	AsString     string `json:"asString"`
	InstanceType string `json:"instanceType"`
}

// NewControllerInstanceID makes {"asString": id, "instanceType": "controller"}.
func NewControllerInstanceID(id string) ControllerInstanceID {
	return ControllerInstanceID{AsString: id, InstanceType: "controller"}
}
